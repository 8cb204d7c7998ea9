import { InvalidResultError, NoResponseError } from '../core/errors.js';
import type { Reply } from '../core/task.js';
import type { Capture } from './capture.js';

/** An Express-shaped handler, as far as running it needs. */
export type AnyHandler = (req: never, res: never, next: (error?: unknown) => void) => unknown;

/** The parts of Express's `res` that answering with a returned value uses. */
interface ValueResponse {
  readonly headersSent: boolean;
  statusCode: number;
  readonly req?: { readonly method?: string };
  readonly app?: { get(setting: string): unknown };
  json?: (body: unknown) => unknown;
  hasHeader(name: string): boolean;
  setHeader(name: string, value: string | number): unknown;
  end(body?: string | Buffer): unknown;
}

type ETagFunction = (body: Buffer | string, encoding?: BufferEncoding) => string | undefined;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

// The JSON of a value as Express's res.json() makes it, by the app's settings.
function jsonOf(value: unknown, app: NonNullable<ValueResponse['app']>): string | undefined {
  const replacer = app.get('json replacer') as ((this: unknown, key: string, value: unknown) => unknown) | undefined;
  const spaces = app.get('json spaces') as string | number | undefined;
  const json = replacer || spaces ? JSON.stringify(value, replacer, spaces) : JSON.stringify(value);
  if (app.get('json escape') && typeof json === 'string') {
    return json.replace(/[<>&]/g, (c) => (c === '<' ? '\\u003c' : c === '>' ? '\\u003e' : '\\u0026'));
  }
  return json;
}

/**
 * A handler that returned without writing: its value is the answer, 200 JSON as
 * `res.json(value)` sends it (the tests compare the two). That is this library's own answer,
 * written here directly in the common case: the headers `res.json()` sets (the type, the
 * length, the ETag of the app's `etag fn`) on a response that has none of its own, which
 * saves the half of a task's work that the general path of `res.send()` costs. Otherwise,
 * `res.json()` itself.
 */
function answerWithValue(res: ValueResponse, value: unknown): void {
  if (res.headersSent) return; // it wrote, and ends the response itself
  if (value === undefined) {
    if (res.statusCode === 200) res.statusCode = 204;
    res.end();
    return;
  }
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new InvalidResultError(`The handler returned a ${typeof value}, which cannot be sent as JSON; return a JSON value or write the response.`);
  }
  try {
    const { app, statusCode } = res;
    const plain =
      typeof app?.get === 'function' &&
      statusCode !== 204 && statusCode !== 205 && statusCode !== 304 &&
      res.req?.method !== 'HEAD' &&
      !res.hasHeader('Content-Type') && !res.hasHeader('Content-Length') && !res.hasHeader('ETag') && !res.hasHeader('Transfer-Encoding');
    if (!plain && typeof res.json === 'function') {
      res.json(value);
      return;
    }
    const json = app === undefined ? JSON.stringify(value) : jsonOf(value, app);
    if (json === undefined) {
      // A replacer that drops the value itself: res.json sends no body then.
      if (typeof res.json === 'function') res.json(value);
      else res.end();
      return;
    }
    // The body goes out as res.send() gives it: bytes when it made an ETag of them (or the text is long).
    const etagOf = app?.get('etag fn') as ETagFunction | undefined;
    const body = typeof etagOf === 'function' || json.length >= 1000 ? Buffer.from(json) : json;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.length));
    const etag = typeof etagOf === 'function' ? etagOf(body) : undefined;
    if (etag) res.setHeader('ETag', etag);
    res.end(body);
  } catch (error) {
    throw new InvalidResultError(`The handler's result cannot be sent as JSON: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Calls an Express handler with a capture for its response, and resolves with the reply
 * once the handler has ended it. A throw, a rejection, `next(error)` or a failed capture
 * (its body passed the size bound, the handler destroyed it) rejects, and stops the
 * capture: a `sendFile` in flight stops reading its file.
 *
 * While the handler runs, `req.res` is the capture (Express's `req.fresh` reads it) and
 * `req.next` the handler's own `next` (as `res.format` and `res.render` call it).
 *
 * - An async handler that resolves without writing: its value becomes the 200 JSON
 *   body; no value, 204.
 * - A synchronous handler that returns a value without writing: the same.
 * - A synchronous handler that returns nothing and has not ended the response is
 *   waiting for a callback, as in Express; it must end the response (or time out).
 * - `next()` with no error, `'route'` or `'router'`: fails with 404, as Express would.
 *
 * Without `answersValue` (an error middleware, which Express never answers for), a value the
 * handler returns or resolves with is ignored: it must end the response.
 */
export function runHandler(handler: AnyHandler, req: object, capture: Capture<object>, answersValue = true): Promise<Reply> {
  const { res } = capture;
  // Every way the handler fails ends the capture with its reason: the reply rejects with it.
  const fail = (error: unknown): void => capture.abort(error ?? new Error('The handler failed without a reason.'));
  const next = (error?: unknown): void => fail(error === undefined || error === 'route' || error === 'router' ? new NoResponseError() : error);
  const settleWith = (value: unknown): void => {
    try {
      answerWithValue(res as unknown as ValueResponse, value);
    } catch (error) {
      fail(error);
    }
  };
  const request = req as { res?: unknown; next?: unknown };
  request.res = res;
  request.next = next;
  try {
    const returned = handler(req as never, res as never, next);
    if (isThenable(returned)) returned.then(answersValue ? settleWith : undefined, fail);
    else if (returned !== undefined && answersValue) settleWith(returned);
  } catch (error) {
    fail(error);
  }
  return capture.reply;
}

import { InvalidResultError, NoResponseError } from '../core/errors.js';
import type { Reply } from '../core/task.js';
import type { Capture } from './capture.js';

/** An Express-shaped handler, as far as running it needs. */
export type AnyHandler = (req: never, res: never, next: (error?: unknown) => void) => unknown;

/** The parts of Express's `res` that answering with a returned value uses. */
interface ValueResponse {
  readonly headersSent: boolean;
  statusCode: number;
  json?: (body: unknown) => unknown;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

// A handler that returned without writing: its value is the answer, as res.json() sends it.
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
    if (typeof res.json === 'function') {
      res.json(value);
    } else {
      // Not an Express response (a plain Node server): JSON as Express would write it.
      const text = JSON.stringify(value);
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(text);
    }
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
 */
export function runHandler(handler: AnyHandler, req: object, capture: Capture<object>): Promise<Reply> {
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
    if (isThenable(returned)) returned.then(settleWith, fail);
    else if (returned !== undefined) settleWith(returned);
  } catch (error) {
    fail(error);
  }
  return capture.reply;
}

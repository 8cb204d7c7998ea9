import { InvalidResultError, NoResponseError } from '../core/errors.js';
import type { Reply } from '../core/task.js';
import type { RecordingResponse } from './recording-response.js';

/** An Express-shaped handler, as far as running it needs. */
export type AnyHandler = (req: never, res: never, next: (error?: unknown) => void) => unknown;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

// An async handler that resolved having written nothing: its value is the answer.
function answerWithValue(res: RecordingResponse, value: unknown): void {
  if (res.headersSent) return; // it wrote, and ends the response itself
  if (value === undefined) {
    res.status(res.statusCode === 200 ? 204 : res.statusCode).end();
    return;
  }
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new InvalidResultError(`The handler returned a ${typeof value}, which cannot be sent as JSON; return a JSON value or write the response.`);
  }
  try {
    res.json(value);
  } catch (error) {
    throw new InvalidResultError(`The handler's result cannot be sent as JSON: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Calls an Express handler with a recording response, and resolves with the reply once
 * the handler has ended the response. A throw, a rejection or `next(error)` rejects.
 *
 * - An async handler that resolves without writing: its value becomes the 200 JSON
 *   body; no value, 204.
 * - A synchronous handler that returns a value without writing: the same.
 * - A synchronous handler that returns nothing and has not ended the response is
 *   waiting for a callback, as in Express; it must end the response (or time out).
 * - `next()` with no error, `'route'` or `'router'`: fails with 404, as Express would.
 */
export function runHandler(handler: AnyHandler, req: unknown, res: RecordingResponse): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    res.reply.then(resolve, reject);
    const next = (error?: unknown): void => {
      reject(error === undefined || error === 'route' || error === 'router' ? new NoResponseError() : error);
    };
    const settleWith = (value: unknown): void => {
      try {
        answerWithValue(res, value);
      } catch (error) {
        reject(error);
      }
    };
    let returned: unknown;
    try {
      returned = handler(req as never, res as never, next);
    } catch (error) {
      reject(error);
      return;
    }
    if (isThenable(returned)) returned.then(settleWith, reject);
    else if (returned !== undefined) settleWith(returned);
  });
}

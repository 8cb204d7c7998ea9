import type { Request, Response } from 'express';
import { createCapture } from '../capture/capture.js';
import { withoutConditionals } from '../capture/replay.js';
import { runHandler, type AnyHandler } from '../capture/run-handler.js';
import type { InlineJob } from '../core/backend.js';
import type { ExecutionContext } from '../core/runner.js';
import { headerList } from './request-snapshot.js';
import type { AsyncHandler, TaskInfo, TaskRequest } from './types.js';

// What the handler learns of its task as req.task; the signal is made when first asked for.
class InlineTaskInfo implements TaskInfo {
  readonly #context: ExecutionContext;
  constructor(context: ExecutionContext) {
    this.#context = context;
  }
  get id(): string {
    return this.#context.id;
  }
  get signal(): AbortSignal {
    return this.#context.signal;
  }
  progress(fraction: number, message?: string): void {
    this.#context.progress(fraction, message);
  }
  afterCommit(effect: () => unknown): void {
    this.#context.afterCommit(effect);
  }
}

/**
 * The job of an inline task: the handler, called later with the live request and the
 * app's own `res` over a capture. The capture starts from the response as middleware left
 * it now, before the 202 is written: its status, headers and `res.locals`.
 */
export function inlineJob(handler: AsyncHandler, req: Request, res: Response, maxReplyBytes: number): InlineJob {
  const base = Object.getPrototypeOf(res) as object;
  const statusCode = res.statusCode;
  const headers = headerList(res);
  const locals = res.locals;
  // The conditional and Range headers belong to the request that reads the reply.
  req.headers = withoutConditionals(req.headers);
  return (context) => {
    const capture = createCapture(base, { req, locals, statusCode, headers, maxBytes: maxReplyBytes }, req.socket);
    (req as TaskRequest).task = new InlineTaskInfo(context);
    // Canceled or timed out: the capture closes as for a client gone (the task lives no longer).
    context.onAbort(() => capture.abort());
    return runHandler(handler as AnyHandler, req, capture);
  };
}

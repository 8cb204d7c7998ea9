import type { Request, Response } from 'express';
import { createCapture } from '../capture/capture.js';
import { withoutConditionals } from '../capture/replay.js';
import { runHandler, type AnyHandler } from '../capture/run-handler.js';
import type { InlineJob } from '../core/backend.js';
import type { ExecutionContext } from '../core/runner.js';
import { headerList } from './request-snapshot.js';
import { ContextTaskInfo } from '../core/task-info.js';
import type { AsyncHandler, TaskRequest } from './types.js';

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
    (req as TaskRequest).task = new ContextTaskInfo(context);
    // Canceled or timed out: the capture closes as for a client gone (the task lives no longer).
    context.onAbort(() => capture.abort());
    return runHandler(handler as AnyHandler, req, capture);
  };
}

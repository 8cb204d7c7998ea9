import type { Request } from 'express';
import type { InlineJob } from '../core/backend.js';
import type { ExecutionContext } from '../core/runner.js';
import { RecordingResponse, type JsonSettings } from './recording-response.js';
import { runHandler, type AnyHandler } from './run-handler.js';
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
}

/** The job of an inline task: the handler, called with the live request and a recording response. */
export function inlineJob(handler: AsyncHandler, req: Request): InlineJob {
  return (context) => {
    const res = new RecordingResponse({
      // Express's settings of res.json, read as the app has them when the handler calls it.
      json: (): JsonSettings => ({
        replacer: req.app.get('json replacer') as JsonSettings['replacer'],
        spaces: req.app.get('json spaces') as JsonSettings['spaces'],
        escape: req.app.get('json escape') as JsonSettings['escape'],
      }),
      secret: (req as { secret?: string }).secret,
      isAborted: () => context.aborted,
    });
    (req as TaskRequest).task = new InlineTaskInfo(context);
    return runHandler(handler as AnyHandler, req, res);
  };
}

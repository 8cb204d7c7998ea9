import type { NextFunction, Request, Response } from 'express';

/** What a handler learns of its task, as `req.task`. */
export interface TaskInfo {
  readonly id: string;
  /** Aborts when the task is canceled, times out, or the server shuts down; `reason` says which. */
  readonly signal: AbortSignal;
  /** Reports progress, shown by the monitor: a fraction from 0 to 1 and an optional message. */
  progress(fraction: number, message?: string): void;
  /**
   * Queues an effect (a log line, an e-mail, a task submitted) to run once the task has
   * succeeded and its reply is stored, in the order queued; dropped if it fails, is
   * canceled or times out. An effect that throws goes to `onError`; the next still run.
   */
  afterCommit(effect: () => unknown): void;
}

// The defaults of Express's own `Request<P, ResBody, ReqBody, ReqQuery, Locals>`, named
// through `Request` so that they are the app's, Express 4 or 5 (`any` bodies, as Express has).
type DefaultParams = Request['params'];
type DefaultQuery = Request['query'];
type DefaultLocals = Record<string, any>;

/**
 * The request a wrapped handler gets: Express's own, with `req.task`. It takes the
 * generics of Express's `Request`: `TaskRequest<{ id: string }>`.
 */
export type TaskRequest<
  P = DefaultParams,
  ResBody = any,
  ReqBody = any,
  ReqQuery = DefaultQuery,
  Locals extends Record<string, any> = DefaultLocals,
> = Request<P, ResBody, ReqBody, ReqQuery, Locals> & { task: TaskInfo };

/**
 * An ordinary Express handler, run after the 202 was sent, with `req.task`. It takes the
 * generics of Express's `RequestHandler`, for a handler declared on its own:
 * `const build: AsyncHandler<{ id: string }> = async (req) => …`.
 */
export type AsyncHandler<
  P = DefaultParams,
  ResBody = any,
  ReqBody = any,
  ReqQuery = DefaultQuery,
  Locals extends Record<string, any> = DefaultLocals,
> = (req: TaskRequest<P, ResBody, ReqBody, ReqQuery, Locals>, res: Response<ResBody, Locals>, next: NextFunction) => unknown;

import type { NextFunction, Request, Response } from 'express';
import type { TaskInfo } from '../core/task-info.js';

export type { TaskInfo } from '../core/task-info.js';

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

import type { NextFunction, Request, Response } from 'express';
import type { TaskInfo } from './types.js';

// Types only: what a handler module run by `asyncApi.worker()` gets on its thread (or in a
// BullMQ worker process), exactly: the request is a snapshot over Express's own request
// prototype, and the response is Express's own, without the app.

/** The request's data a snapshot carries to the thread. */
type Carried =
  | 'method'
  | 'url'
  | 'originalUrl'
  | 'baseUrl'
  | 'path'
  | 'params'
  | 'query'
  | 'body'
  | 'headers'
  | 'ip'
  | 'ips'
  | 'protocol'
  | 'secure'
  | 'hostname'
  | 'subdomains';

/** What Express's request prototype computes from those, which works on the thread too. */
type Computed = 'get' | 'header' | 'is' | 'accepts' | 'acceptsCharsets' | 'acceptsEncodings' | 'acceptsLanguages' | 'range' | 'fresh' | 'stale' | 'xhr';

/**
 * The `req` of a handler module: what a snapshot of the request carries, Express's own
 * methods over it, `req.task`, and `cookies`/`signedCookies` when cookie-parser ran before
 * the route. Not there: `req.app`, the socket, the request stream (the body was parsed
 * before the route), `req.route`. It takes the generics of Express's `Request`.
 */
export type WorkerRequest<
  P = Request['params'],
  ReqBody = any,
  ReqQuery = Request['query'],
> = Pick<Request<P, unknown, ReqBody, ReqQuery>, Carried | Computed> & {
  /** As inline; its `afterCommit` effects run on the thread. */
  readonly task: TaskInfo;
  cookies?: Record<string, any>;
  signedCookies?: Record<string, any>;
};

/**
 * The `res` of a handler module: Express's own response, with the submitting app's plain
 * settings, but no app: `res.app` and `res.render()` (which needs the app's views) are not
 * there. `res.locals` starts empty.
 */
export type WorkerResponse<ResBody = any, Locals extends Record<string, any> = Record<string, any>> = Omit<
  Response<ResBody, Locals>,
  'app' | 'render'
>;

/**
 * A handler module's export: `export default (async (req, res) => …) satisfies
 * WorkerHandler<{ id: string }>`. Its return value, if it does not end the response, is the
 * answer, as JSON.
 */
export type WorkerHandler<
  P = Request['params'],
  ResBody = any,
  ReqBody = any,
  ReqQuery = Request['query'],
  Locals extends Record<string, any> = Record<string, any>,
> = (req: WorkerRequest<P, ReqBody, ReqQuery>, res: WorkerResponse<ResBody, Locals>, next: NextFunction) => unknown;

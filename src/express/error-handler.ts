// The `errorHandler` option: a failed (or canceled) task answered through the app's own
// error middleware, as a plain route's error is, when the failure is read: in the web
// process that answers, whichever it is. Worker processes never run it.
import type { Request, Response } from 'express';
import { createCapture } from '../capture/capture.js';
import { runHandler, type AnyHandler } from '../capture/run-handler.js';
import { errorFromRecord, errorRecord } from '../core/error-record.js';
import { TaskCanceledError } from '../core/errors.js';
import type { ErrorMiddleware, RouteConfiguration } from '../core/options.js';
import { errorOfProblem } from '../core/problem.js';
import type { Reply, Task } from '../core/task.js';
import { headerList } from './request-snapshot.js';

/**
 * What an `errorHandler` finds at `req.task`: the task that failed or was canceled, frozen.
 * Times are milliseconds since the epoch.
 */
export interface FailedTask {
  readonly id: string;
  readonly status: 'failed' | 'canceled';
  readonly owner: string | undefined;
  readonly createdAt: number;
  readonly startedAt: number | undefined;
  readonly finishedAt: number | undefined;
  /** What it was submitted as (see `Task.route`), and the submit's method and URL. */
  readonly route: string | undefined;
  readonly method: string | undefined;
  readonly url: string | undefined;
  /** With retries: the attempt it failed on, of how many at most. */
  readonly attempt?: number;
  readonly attempts?: number;
}

/** The answer to a failed or canceled task through the app's error handler: its reply, or `undefined` for the problem document. */
export type FailureReply = (task: Task) => Promise<Reply | undefined>;

// The response as the error handler starts from it: as middleware left it for the request.
interface Start {
  readonly statusCode: number;
  readonly headers: readonly string[];
  readonly locals: Record<string, unknown> | undefined;
}

const startOf = (res: Response): Start => ({ statusCode: res.statusCode, headers: headerList(res), locals: res.locals });

// What the handler of a canceled task gets, as a plain route gets `next(new TaskCanceledError())`.
const canceled = errorRecord(new TaskCanceledError());

// Route names are bounded (patterns, not paths); this bounds what a process learns of them anyway.
const MAX_ROUTES = 10_000;

function failedTask(task: Task): FailedTask {
  const { id, owner, createdAt, startedAt, finishedAt, route, method, url, attempt, attempts } = task;
  const info: { -readonly [K in keyof FailedTask]: FailedTask[K] } = {
    id,
    status: task.status as FailedTask['status'],
    owner,
    createdAt,
    startedAt,
    finishedAt,
    route,
    method,
    url,
  };
  if (attempts !== undefined) {
    info.attempt = attempt ?? 1;
    info.attempts = attempts;
  }
  return Object.freeze(info);
}

/**
 * The error handlers of one `createAsyncApi()`: the global one, and the routes' own. A route's
 * own handler is found by the task's stored route (`Task.route`) where this process has served
 * the route (a route with a `name`, and a task defined in code, from the start); else by the
 * number its failure's record names (`ErrorRecord.handler`: the handlers numbered in the order
 * they were given, the same in every process of the app); else the global one answers.
 */
export class ErrorHandlers {
  readonly #global: ErrorMiddleware | undefined;
  // Every handler given, by the number a record names: the global one is 0.
  readonly #numbered: (ErrorMiddleware | undefined)[];
  // Each route's own handler, by route name, as this process learned it.
  readonly #byRoute = new Map<string, ErrorMiddleware>();
  readonly #maxReplyBytes: number;
  readonly #onError: (error: unknown, taskId: string | undefined) => void;
  #active: boolean;

  constructor(global: ErrorMiddleware | undefined, maxReplyBytes: number, onError: (error: unknown, taskId: string | undefined) => void) {
    this.#global = global;
    this.#numbered = [global];
    this.#active = global !== undefined;
    this.#maxReplyBytes = maxReplyBytes;
    this.#onError = onError;
  }

  /** Whether any error handler was given: without one, failures answer problem documents, and nothing here is asked. */
  get active(): boolean {
    return this.#active;
  }

  /**
   * The route's configuration as its failures are answered: with the `errorKey` of its own
   * handler, or of the global one, when either applies (its failures then keep a record).
   * The same configuration when none does.
   */
  route<R extends RouteConfiguration>(route: R): R {
    const own = route.errorHandler;
    if (own === undefined) return this.#global === undefined ? route : { ...route, errorKey: 0 };
    this.#active = true;
    let key = this.#numbered.indexOf(own);
    if (key < 0) key = this.#numbered.push(own) - 1;
    return { ...route, errorKey: key };
  }

  /** This process serves (or defined) the route `name` with its own `handler`. */
  learn(name: string, handler: ErrorMiddleware): void {
    if (this.#byRoute.get(name) !== handler && (this.#byRoute.size < MAX_ROUTES || this.#byRoute.has(name))) this.#byRoute.set(name, handler);
  }

  /**
   * How failed tasks answer this request (`req`, `res`), for `answerTask`. The handler starts
   * from the response as middleware left it: as it is when a task is answered, or, with
   * `now`, as it is now (an event stream writes its own head next).
   */
  replier(req: Request, res: Response, now = false): FailureReply {
    const start = now ? startOf(res) : undefined;
    return (task) => this.#reply(req, res, task, start ?? startOf(res));
  }

  #handlerOf(task: Task): ErrorMiddleware | undefined {
    if (task.route !== undefined) {
      const own = this.#byRoute.get(task.route);
      if (own !== undefined) return own;
    }
    const key = task.problem?.error?.handler;
    return (key === undefined ? undefined : this.#numbered[key]) ?? this.#global;
  }

  // Runs the error handler over a capture, as Express would run it for a plain route's error:
  // the reply it wrote, or undefined (no handler applies, it threw or passed the error on, or
  // the client went away first).
  async #reply(req: Request, res: Response, task: Task, start: Start): Promise<Reply | undefined> {
    const handler = this.#handlerOf(task);
    if (handler === undefined) return undefined;
    const error = task.status === 'canceled' ? errorFromRecord(canceled) : errorOfProblem(task.problem!);
    // A request of its own over the real one: the task's info at `req.task` (and, as the
    // handler runs, its `res` and `next`), without touching the request being answered.
    const view = Object.create(req, { task: { value: failedTask(task), enumerable: true, configurable: true } }) as Request;
    const capture = createCapture(
      Object.getPrototypeOf(res) as object,
      { req: view, locals: start.locals, statusCode: start.statusCode, headers: start.headers, maxBytes: this.#maxReplyBytes },
      req.socket,
    );
    let gone = false;
    const leave = (): void => {
      gone = true;
      capture.abort(new Error('The client went away before the error handler answered.'));
    };
    res.once('close', leave);
    try {
      return await runHandler(((rq: never, rs: never, next: (error?: unknown) => void) => handler(error, rq, rs, next)) as AnyHandler, view, capture, false);
    } catch (failure) {
      // It threw, or passed an error on: the problem document answers, and the app hears of it.
      if (!gone) {
        try {
          this.#onError(failure, task.id);
        } catch {
          // A throwing hook must not take the answer with it.
        }
      }
      return undefined;
    } finally {
      res.off('close', leave);
    }
  }
}

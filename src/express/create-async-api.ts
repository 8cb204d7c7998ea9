import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { memoryBackend } from '../backends/memory-backend.js';
import type { CodeTaskFunction } from '../core/code-task.js';
import { defineTask, type DefineOptions, type DefinitionContext, type TaskDefinition } from '../core/definitions.js';
import { IdempotencyKeyError, InvalidArgumentError, InvalidOptionError, TaskNotFoundError } from '../core/errors.js';
import {
  describe,
  milliseconds,
  resolveCloseOptions,
  resolveOptions,
  resolveRouteOptions,
  resolveWorkerRouteOptions,
  type AsyncApiOptions,
  type CloseOptions,
  type RouteConfiguration,
  type RouteOptions,
  type WorkerRouteOptions,
} from '../core/options.js';
import type { TaskTrace } from '../core/observer.js';
import { TaskRegistry, type Following } from '../core/registry.js';
import { TaskAdmin, type BulkQuery, type BulkResult } from '../core/admin.js';
import { createDashboard, type DashboardOptions } from '../dashboard/router.js';
import { openTelemetryTracer } from '../tracing/tracer.js';
import { toStatusDocument, type Rerun, type StatusDocument, type Task } from '../core/task.js';
import { checkEventName, toJson } from '../core/durable.js';
import { checkHandlerModule, moduleUrl } from '../executors/module-check.js';
import type { ReplayRequest } from '../capture/replay.js';
import { answerError, answerWhenSettled, sendAccepted } from './answers.js';
import { ErrorHandlers, type FailureReply } from './error-handler.js';
import { inlineJob } from './inline-job.js';
import { ownerOf } from './owner.js';
import { parseIdempotencyKey, requestFingerprint, scopedKey } from './idempotency-key.js';
import { parsePrefer, preferredWait } from './prefer.js';
import { moduleJob } from './request-snapshot.js';
import { monitorLocation } from './location.js';
import { bodySize, routeName } from './route-name.js';
import { createStatusRouter } from './status-router.js';
import type { AsyncHandler } from './types.js';

/** The route wrapper: `asyncApi(handler)` runs inline, `asyncApi.worker(module)` on worker threads. */
export interface AsyncApiWrapper {
  /**
   * Wraps an Express handler: a request answers `202 Accepted` at once with the
   * monitor's `Location`, and the handler runs afterwards; the monitor replays its response.
   * It takes the generics of Express's `RequestHandler`, inferred from a handler whose `req`
   * is annotated (`Request<{ id: string }>`), or given: `asyncApi<{ id: string }>(…)`.
   */
  <
    P = Request['params'],
    ResBody = any,
    ReqBody = any,
    ReqQuery = Request['query'],
    Locals extends Record<string, any> = Record<string, any>,
  >(
    handler: AsyncHandler<P, ResBody, ReqBody, ReqQuery, Locals>,
    options?: RouteOptions,
  ): RequestHandler<P, ResBody, ReqBody, ReqQuery, Locals>;
  /**
   * Like `asyncApi(handler)`, for a handler that lives in a module of its own (its default
   * export, or `options.export`) and runs on a worker thread with a snapshot of the request.
   * `module` is a `file:` URL (`new URL('./resize.js', import.meta.url)`) or a path. A module
   * that is not there, or whose source has no such export, is refused here.
   */
  worker(module: URL | string, options?: WorkerRouteOptions): RequestHandler;
}

/** What `createAsyncApi()` returns. */
export interface AsyncApi {
  readonly asyncApi: AsyncApiWrapper;
  /** The status monitor: `GET`, `HEAD` and `DELETE` on `<statusPath>/:taskId`. Mount it with `app.use()`. */
  readonly router: RequestHandler;
  /**
   * Stops accepting tasks (503 from then on), lets live tasks finish for up to
   * `options.timeout` ms (default 10000), aborts the rest, and stops every timer.
   * The monitor keeps answering for the tasks that are held.
   */
  close(options?: CloseOptions): Promise<void>;
  /**
   * Defines a task to submit from code, with no request: `fn(input, task)` runs inline; a
   * module (a `file:` URL or a path; its default export, or `options.export`) runs on the
   * worker-thread pool, or on worker processes with `bullmqBackend()`. Its return value is
   * the task's answer (`handle.result()`, and `200` JSON on its monitor).
   */
  define<Input = unknown, Output = unknown>(
    name: string,
    run: CodeTaskFunction<Input, Output> | URL | string,
    options?: DefineOptions,
  ): TaskDefinition<Input, Awaited<Output>>;
  /** The status document of a task, as its monitor shows it; `undefined` when there is none (for this owner). */
  get(id: string, options?: { owner?: string }): Promise<StatusDocument | undefined>;
  /**
   * Resolves with the status document once the task has finished, or as it is when
   * `timeout` ms (default 30000) have passed or `signal` aborted. Rejects with `TaskNotFoundError`.
   */
  wait(id: string, options?: { owner?: string; timeout?: number; signal?: AbortSignal }): Promise<StatusDocument>;
  /** Cancels a queued or running task, as `DELETE` on its monitor; rejects with `TaskNotFoundError` or `TaskFinishedError`. */
  cancel(id: string, options?: { owner?: string }): Promise<StatusDocument>;
  /**
   * Sends an event to a task, as `POST <monitor>/events/<name>`: `value` (JSON; `null` for none)
   * goes to its next `waitForEvent(name)`, now or when it waits. With `idempotencyKey`, an event
   * sent under that key already is not sent again. Resolves with the task's status document;
   * rejects with `TaskNotFoundError` (or another owner's), `TaskFinishedError`, `EventLimitError`
   * (`maxEvents`), or `InvalidArgumentError`.
   */
  sendEvent(id: string, name: string, value: unknown, options?: { owner?: string; idempotencyKey?: string }): Promise<StatusDocument>;
  /**
   * Runs a failed, timed-out or canceled task again under its id (its monitor shows it `queued`,
   * `running`, then its new answer; its finished steps return their kept results), with a fresh
   * retry budget. For tasks whose job was kept: worker routes and module tasks from code. Rejects
   * with `NotRerunnableError` (an inline handler's task, a `define(name, fn)`'s, one that
   * succeeded or is live) or `TaskNotFoundError`.
   */
  rewind(id: string, options?: { owner?: string }): Promise<StatusDocument>;
  /**
   * Cancels the live tasks a filter matches (the dashboard's list query: `status`, `route`,
   * `owner`, `id`, `text`, `from`, `to`, `waiting`), a page at a time. An empty filter is refused
   * (`InvalidQueryError`) unless `all: true`. Resolves with `{ matched, done, skipped }`.
   */
  cancelMany(query: BulkQuery): Promise<BulkResult>;
  /** Rewinds the failed and canceled tasks a filter matches whose job was kept; as `cancelMany`. */
  rewindMany(query: BulkQuery): Promise<BulkResult>;
  /** Deletes the finished tasks a filter matches; as `cancelMany`. */
  deleteMany(query: BulkQuery): Promise<BulkResult>;
  /**
   * The dashboard: a page and its JSON API for every task of every owner (list, search,
   * cancel, delete, run again, numbers per route, live changes), to mount where operators
   * reach it: `app.use('/admin/tasks', requireAdmin, tasks.dashboard())`. By default only
   * requests from this machine see it (see `authorize`).
   */
  dashboard(options?: DashboardOptions): RequestHandler;
}


/**
 * Creates a registry of asynchronous tasks with its route wrapper and status monitor.
 *
 * ```ts
 * const tasks = createAsyncApi();
 * app.post('/reports', tasks.asyncApi(buildReport));
 * app.use(tasks.router);
 * ```
 */
export function createAsyncApi(options?: AsyncApiOptions<Request>): AsyncApi {
  const resolved = resolveOptions(options);
  // Traces when @opentelemetry/api is installed (whether an SDK is registered is asked per task).
  const tracer = resolved.tracing ? openTelemetryTracer() : undefined;
  const config = tracer === undefined ? resolved : { ...resolved, tracer };
  const backend = (config.backend ?? memoryBackend())(config);
  const registry = new TaskRegistry(backend.store, backend, { metrics: config.metrics, tracer });
  const stopCensus = backend.census === undefined ? undefined : config.metrics?.census(backend.census);
  const errors = new ErrorHandlers(config.errorHandler, config.maxReplyBytes, config.onError);

  // A route's own error handler is learned under the route's name: at once for a named route,
  // else at its submits in this process (its name is Express's patterns, known from a request).
  function learnsFrom(route: RouteConfiguration): boolean {
    if (route.errorHandler === undefined) return false;
    if (route.name === undefined) return true;
    errors.learn(route.name, route.errorHandler);
    return false;
  }

  // Submits a task whose job `start` gets running, and answers 202 (or, with Prefer: wait,
  // the task's own answer if it ends in time), or a 503 problem. The monitor's URL is
  // built before the job starts: if that throws, nothing stays registered.
  async function submit(
    req: Request,
    res: Response,
    next: NextFunction,
    start: (id: string, trace?: TaskTrace) => void | Promise<void>,
    route: RouteConfiguration,
    handler: object,
    rerun?: Rerun,
  ): Promise<void> {
    // As the request came, before the handler's copy loses its conditional headers.
    const { headers } = req;
    let following: Following | undefined;
    try {
      const owner = ownerOf(req, config);
      const idempotency = idempotencyOf(req, owner, route);
      let monitor!: string;
      const { task, created } = await registry.submit(
        owner,
        (id, trace) => {
          monitor = monitorLocation(req, config, id);
          // A wait to come is watched from before the job is queued: no read is needed then.
          if (headers.prefer !== undefined) following = registry.follow(id);
          return start(id, trace);
        },
        {
          readOnce: route.readOnce,
          idempotency,
          ...(route.retries === undefined ? {} : { attempts: route.retries.attempts }),
          route: routeName(req, handler, route.name),
          method: req.method,
          url: req.originalUrl,
          rerun,
        },
      );
      if (!created) {
        // The task of an idempotency key used before: its answer, as for the first submit.
        monitor = monitorLocation(req, config, task.id);
        if (headers.prefer !== undefined) {
          following = { settled: (_task, timeout, signal) => registry.settled(task.id, owner, timeout, signal), stop: () => {} };
        }
      }
      if (following === undefined) return sendAccepted(res, task, monitor, config);
      await answerAsPreferred({ method: req.method, headers }, res, task, following, monitor, errors.active ? errors.replier(req, res) : undefined);
    } catch (error) {
      following?.stop();
      // (A 4xx here: a bad or reused Idempotency-Key, or a read-once answer another reader
      // took while this submit waited for it.)
      answerError(res, next, error, undefined, config);
    }
  }

  // The submit's Idempotency-Key, scoped by owner and route, with its request's fingerprint;
  // undefined without one. Throws IdempotencyKeyError (400) for a bad or missing one.
  function idempotencyOf(req: Request, owner: string | undefined, route: RouteConfiguration) {
    const header = req.headers['idempotency-key'];
    const key = parseIdempotencyKey(header === undefined ? undefined : req.get('idempotency-key'));
    if (key === undefined) {
      if (route.idempotency === 'required') throw new IdempotencyKeyError('This route requires an Idempotency-Key header.');
      return undefined;
    }
    // The route as Express matched it, the same in every process: method, mount path, pattern.
    const pattern = (req as { route?: { path?: unknown } }).route?.path;
    const scope = `${req.method} ${req.baseUrl} ${pattern === undefined ? req.path : String(pattern)}`;
    return { key: scopedKey(owner, scope, key), fingerprint: requestFingerprint(req.method, req.originalUrl, req.body) };
  }

  // Prefer: respond-async answers 202 at once; wait=N holds the answer until the task ends,
  // for N seconds at most. Both: up to N seconds, then 202 (RFC 7240 §4.1).
  async function answerAsPreferred(request: ReplayRequest, res: Response, task: Task, following: Following, monitor: string, failure: FailureReply | undefined) {
    const preferences = parsePrefer(String(request.headers.prefer));
    const respondAsync = preferences.has('respond-async');
    const wait = preferredWait(preferences, config.maxWait);
    if (wait === undefined) {
      following.stop();
      return sendAccepted(res, task, monitor, config, respondAsync ? { 'Preference-Applied': 'respond-async', Vary: 'Prefer' } : { Vary: 'Prefer' });
    }
    const headers = { 'Preference-Applied': respondAsync ? `respond-async, wait=${wait}` : `wait=${wait}`, Vary: 'Prefer' };
    await answerWhenSettled(
      res,
      request,
      (timeout, signal) => following.settled(task, timeout, signal),
      wait,
      monitor,
      config,
      headers,
      (settled) => registry.claim(settled),
      failure,
    );
  }

  // Typed with Express's defaults here: the generics of the signature are the caller's.
  const asyncApi = function asyncApi(handler: AsyncHandler, routeOptions?: RouteOptions): RequestHandler {
    if (typeof handler !== 'function') {
      throw new InvalidArgumentError(`asyncApi() takes an Express handler function, got ${describe(handler)}`);
    }
    const route = errors.route(resolveRouteOptions(routeOptions));
    const { runInline } = backend;
    if (runInline === undefined) {
      throw new InvalidOptionError('This backend cannot run inline handlers; put the handler in a module and use asyncApi.worker()');
    }
    const learns = learnsFrom(route);
    return function asyncApiRoute(req, res, next) {
      if (learns) errors.learn(routeName(req, asyncApiRoute), route.errorHandler!);
      void submit(req, res, next, (id, trace) => runInline(id, inlineJob(handler, req, res, config.maxReplyBytes), route, trace), route, asyncApiRoute);
    };
  } as AsyncApiWrapper;

  asyncApi.worker = function worker(module, routeOptions) {
    const route = errors.route(resolveWorkerRouteOptions(routeOptions));
    if (route.retries?.retryOn !== undefined && backend.runInline === undefined) {
      throw new InvalidOptionError('routeOptions.retries.retryOn is a function, which cannot travel to worker processes; with bullmqBackend() the default applies (a 5xx that is not a timeout)');
    }
    if (route.queueTimeout !== undefined && !backend.queueTimeouts) {
      throw new InvalidOptionError(
        'routeOptions.queueTimeout is for bullmqBackend(), whose tasks may wait for a worker process that is not there; in memory a thread of this process always takes the task',
      );
    }
    const url = moduleUrl(module);
    checkHandlerModule(url, route.exportName);
    const href = url.href;
    const learns = learnsFrom(route);
    return function asyncApiWorkerRoute(req, res, next) {
      if (learns) errors.learn(routeName(req, asyncApiWorkerRoute), route.errorHandler!);
      const job = moduleJob(href, route.exportName, req, res, config.maxReplyBytes);
      // The job is kept, for the dashboard to run it again, when its body is small enough.
      const rerun = config.maxRerunBytes > 0 && bodySize(req) <= config.maxRerunBytes ? { job, route } : undefined;
      void submit(req, res, next, (id, trace) => backend.runModule(id, job, route, trace), route, asyncApiWorkerRoute, rerun);
    };
  };

  const admin = new TaskAdmin(registry, backend);
  const definitions = new Set<string>();
  const definitionContext: DefinitionContext = {
    registry,
    backend,
    statusPath: config.statusPath,
    maxReplyBytes: config.maxReplyBytes,
    maxRerunBytes: config.maxRerunBytes,
    checkModule(module, exportName) {
      const url = moduleUrl(module);
      checkHandlerModule(url, exportName);
      return url.href;
    },
    answeredRoute: (route) => errors.route(route),
  };
  const ownerOption = (options: { owner?: unknown } | undefined, where: string): string | undefined => {
    const owner = options?.owner;
    if (owner !== undefined && typeof owner !== 'string') throw new InvalidArgumentError(`${where} options.owner must be a string, got ${describe(owner)}`);
    return owner;
  };

  // A task's monitor, relative to where tasks.router is mounted (as a definition's handle.location).
  const monitorOf = (id: string): string => `${config.statusPath}/${encodeURIComponent(id)}`;

  let closing: Promise<void> | undefined;
  return {
    asyncApi,
    define(name, run, defineOptions) {
      if (typeof name !== 'string' || name === '') throw new InvalidArgumentError(`define() takes a name, got ${describe(name)}`);
      if (definitions.has(name)) throw new InvalidArgumentError(`define(): a task named "${name}" is defined already`);
      const definition = defineTask(definitionContext, name, run, defineOptions);
      definitions.add(name);
      // Its tasks' route is its name, known from now on.
      if (defineOptions?.errorHandler !== undefined) errors.learn(name, defineOptions.errorHandler);
      return definition;
    },
    async get(id, getOptions) {
      try {
        return toStatusDocument(await registry.get(id, ownerOption(getOptions, 'get()')), monitorOf(id));
      } catch (error) {
        if (error instanceof TaskNotFoundError) return undefined;
        throw error;
      }
    },
    async wait(id, waitOptions) {
      const timeout = waitOptions?.timeout === undefined ? 30_000 : milliseconds(waitOptions.timeout, 'wait() options.timeout');
      return toStatusDocument(await registry.settled(id, ownerOption(waitOptions, 'wait()'), timeout, waitOptions?.signal), monitorOf(id));
    },
    async cancel(id, cancelOptions) {
      return toStatusDocument(await registry.cancel(id, ownerOption(cancelOptions, 'cancel()')), monitorOf(id));
    },
    async sendEvent(id, name, value, sendOptions) {
      checkEventName(name, 'sendEvent()');
      if (value === undefined) throw new InvalidArgumentError('sendEvent() takes a JSON value; use null for an event without one');
      let json: string;
      try {
        json = toJson(value, 'sendEvent()\'s value');
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message);
      }
      const key = sendOptions?.idempotencyKey;
      if (key !== undefined && (typeof key !== 'string' || key === '' || key.length > 255)) {
        throw new InvalidArgumentError(`sendEvent() options.idempotencyKey must be a string of 1 to 255 characters, got ${describe(key)}`);
      }
      const task = await registry.sendEvent(id, ownerOption(sendOptions, 'sendEvent()'), name, json, config, key === undefined ? undefined : `${name} ${key}`);
      return toStatusDocument(task, monitorOf(id));
    },
    async rewind(id, rewindOptions) {
      const owner = ownerOption(rewindOptions, 'rewind()');
      await registry.get(id, owner);
      return toStatusDocument(await admin.rewind(id), monitorOf(id));
    },
    cancelMany: (query) => admin.cancelMany(query),
    rewindMany: (query) => admin.rewindMany(query),
    deleteMany: (query) => admin.deleteMany(query),
    router: createStatusRouter(registry, config, errors),
    dashboard(dashboardOptions) {
      const dashboard = createDashboard(admin, config, dashboardOptions);
      admin.prepare();
      return dashboard;
    },
    close(closeOptions) {
      const { timeout } = resolveCloseOptions(closeOptions);
      registry.close();
      stopCensus?.();
      closing ??= backend.close(timeout);
      return closing;
    },
  };
}

import { availableParallelism } from 'node:os';
import type { BackendFactory } from './backend.js';
import { InvalidOptionError } from './errors.js';
import type { TaskMetrics, TaskTracer } from './observer.js';
import { statusOf } from './problem.js';

/**
 * An error middleware of the web framework, `(err, req, res, next)`: Express's
 * `ErrorRequestHandler`. The library calls it when a failed task is read (see `errorHandler`).
 */
export type ErrorMiddleware = (err: any, req: any, res: any, next: (error?: unknown) => void) => unknown;

/** The longest delay a Node.js timer takes (about 24.8 days). */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * Options of `createAsyncApi()`. `Req` is the framework's request type, seen only by `owner`.
 */
export interface AsyncApiOptions<Req = unknown> {
  /** Milliseconds a finished task stays readable; `Infinity` keeps it until removed. Default 300000 (5 minutes). */
  ttl?: number;
  /**
   * Milliseconds a failed, timed-out or canceled task stays (and its kept job, to be rewound
   * after an outage: `tasks.rewind()`); `Infinity` keeps it. Default: `ttl`.
   */
  failedTtl?: number;
  /** Path of the status monitor, relative to the app the router is mounted on. Default `'/status'`. */
  statusPath?: string;
  /** Seconds a client is asked to wait before polling again (`Retry-After`). Default 1. */
  retryAfter?: number;
  /** Tasks held at once, live and finished; beyond it submissions get 503. Default 100000. */
  maxTasks?: number;
  /** Inline handlers running at once; further tasks wait as `queued`. Default `Infinity`. */
  concurrency?: number;
  /**
   * Scopes tasks to an owner: a task is visible and cancelable only by requests whose
   * owner equals the one it was submitted with; others get 404. Default: no scoping.
   */
  owner?: (req: Req) => string | undefined;
  /** Show the messages of 5xx failures in problem documents. Default `false` (4xx messages are always shown). */
  exposeErrors?: boolean;
  /**
   * Called with the error of every failed task, and (with no task id) of a worker thread
   * that failed between tasks. Default: logs 5xx failures with `console.error`, except when
   * `NODE_ENV` is `test`.
   */
  onError?: (error: unknown, taskId: string | undefined) => void;
  /** The worker-thread pool of `asyncApi.worker()` routes. */
  threads?: ThreadOptions;
  /** Seconds a request with `Prefer: wait=N` is held at most. Default 30. */
  maxWait?: number;
  /** Milliseconds between the comments that keep an idle event stream open through proxies. Default 15000. */
  heartbeat?: number;
  /** Where tasks are kept and run. Default: `memoryBackend()`, this process. */
  backend?: BackendFactory;
  /**
   * The largest body a task's reply may have, in bytes: replies are held in memory (or
   * Redis) until they expire. A larger one fails the task with a 500 problem of type
   * `reply-too-large`, without being buffered past the bound. Default 67108864 (64 MiB).
   */
  maxReplyBytes?: number;
  /**
   * Builds the monitor URL of a task (the `Location` of its answers), for a monitor mounted
   * elsewhere or behind a proxy that rewrites paths. Called with the submit request, and
   * with each monitor request. Default: the mount path of the Router or app that holds the
   * route (`req.baseUrl`) plus `statusPath` and the id.
   */
  location?: (req: Req, id: string) => string;
  /**
   * The largest job kept with a worker task so that it can be run again from the dashboard
   * (`POST …/api/tasks/:id/retry`), in bytes: the request's body (its `Content-Length`, or
   * its JSON when parsed without one), or a task's input as JSON. A larger one is not kept,
   * and its task cannot be run again. `0` keeps none. Default 65536 (64 KiB).
   */
  maxRerunBytes?: number;
  /** Prometheus metrics of the tasks: `asyncApiMetrics()` from `express-async-api/metrics`. Default: none. */
  metrics?: TaskMetrics;
  /**
   * Traces tasks with OpenTelemetry (`@opentelemetry/api`) when it is installed and an SDK is
   * registered: each attempt a span, child of the submit's. `false` traces nothing. Default `true`.
   */
  tracing?: boolean;
  /**
   * An Express error middleware, `(err, req, res, next)`, usually the app's own: every failed or
   * canceled task is answered through it, as a plain route's error would be, when it is read
   * (the monitor's `GET`, a `Prefer: wait` answer, the event stream's `done`), in the web
   * process that answers. `err` is rebuilt from what the task kept of its error (never its
   * stack); `req.task` is the failed task. A route's own `errorHandler` comes first. If it
   * throws or calls `next(err)`, the problem document answers. Default: none (problem documents).
   */
  errorHandler?: ErrorMiddleware;
  /** Events a task keeps at most (`waitForEvent`); past it, a sent event gets a `409` problem. Default 100. */
  maxEvents?: number;
  /** The largest event body, in bytes, the library parses itself (`POST <monitor>/events/<name>`); larger: `413`. Default 65536 (64 KiB). */
  maxEventBytes?: number;
  /** The largest result of a step (`req.task.step()`), as JSON, in bytes; larger fails the step. Default 262144 (256 KiB). */
  maxStepBytes?: number;
}

/** worker_threads resource limits of each thread (see Node's `Worker` options). */
export interface ResourceLimits {
  maxOldGenerationSizeMb?: number;
  maxYoungGenerationSizeMb?: number;
  codeRangeSizeMb?: number;
  stackSizeMb?: number;
}

/** Options of the worker-thread pool. */
export interface ThreadOptions {
  /** Threads kept even when idle. Default: piscina's, half the cores (at least 1). */
  min?: number;
  /** Threads at most. Default: the available cores (`os.availableParallelism()`). */
  max?: number;
  /**
   * Milliseconds an idle thread above `min` lives on. Default 30000: a new thread takes a
   * while to start (it loads Express and the handler modules), so a busy moment's threads are kept.
   */
  idleTimeout?: number;
  /** Memory and stack limits of each thread; a task that exceeds them fails alone. Default: none. */
  resourceLimits?: ResourceLimits;
  /** Milliseconds a handler has to settle once its signal aborted, before its thread is terminated. Default 1000. */
  gracePeriod?: number;
}

export interface ThreadConfiguration {
  readonly min: number | undefined;
  readonly max: number;
  readonly idleTimeout: number;
  readonly resourceLimits: ResourceLimits | undefined;
  readonly gracePeriod: number;
}

/** Options of one wrapped route. */
export interface RouteOptions {
  /** Milliseconds a task may run before its signal aborts and it fails with 504. Default: no limit. */
  timeout?: number;
  /**
   * The finished answer is read once: the first `GET` of the monitor that receives it (or a
   * submit's `Prefer: wait`, or an event stream's `done`) deletes the task; later reads get
   * 404. Default `false`.
   */
  readOnce?: boolean;
  /**
   * The `Idempotency-Key` request header: `'optional'` (the default) honours it when a
   * submit has one; `'required'` answers a submit without one with a 400 problem.
   */
  idempotency?: 'optional' | 'required';
  /**
   * Runs a failed attempt again: a number of retries, or `{ attempts, backoff, retryOn }`
   * (`attempts` counting the first). By default a throw, a 5xx and a crashed thread are
   * retried; a 4xx, a timeout and a cancel are not. `retryOn(error)` decides instead (a
   * cancel is never retried). Default: no retries.
   */
  retries?: number | RetryOptions;
  /**
   * The route's name on the dashboard, in metrics and in traces. Default: the route as Express
   * matched it, by its patterns (`POST /users/:uid/reports/:kind`), never a parameter's value.
   */
  name?: string;
  /**
   * The error middleware that answers this route's failed and canceled tasks, instead of the
   * `errorHandler` of `createAsyncApi()`. Default: that one, if any.
   */
  errorHandler?: ErrorMiddleware;
}

/** How a failed attempt is retried. */
export interface RetryOptions {
  /** Attempts in all, the first one included: 2 or more. */
  attempts: number;
  /** The wait before each retry. Default `{ type: 'exponential', delay: 1000 }`. */
  backoff?: {
    /** `'fixed'`: `delay` each time; `'exponential'`: `delay`, then twice it, four times… */
    type: 'fixed' | 'exponential';
    /** Milliseconds. */
    delay: number;
    /** A fraction from 0 to 1: each wait is shortened by up to this share of it, at random. Default 0. */
    jitter?: number;
  };
  /** Whether a failed attempt's error is retried; by default a 5xx that is not a timeout. */
  retryOn?: (error: unknown) => boolean;
}

/** Options of one route whose handler is a module (`asyncApi.worker()`). */
export interface WorkerRouteOptions extends RouteOptions {
  /** The export of the module to call. Default `'default'`. */
  export?: string;
  /**
   * Milliseconds a task may wait `queued` for a worker; then it fails, without running, with
   * a 503 problem of type `no-worker`. With `bullmqBackend()` only, where no worker process
   * may be running; in memory a thread of this process always takes it. Default: no limit.
   */
  queueTimeout?: number;
}

/** Options of `close()`. */
export interface CloseOptions {
  /** Milliseconds live tasks have to finish before they are aborted. Default 10000. */
  timeout?: number;
}

/** Options with every default filled in and every value checked. */
export interface Configuration<Req = unknown> {
  readonly ttl: number;
  readonly failedTtl: number;
  readonly statusPath: string;
  readonly retryAfter: number;
  readonly maxTasks: number;
  readonly concurrency: number;
  readonly owner: ((req: Req) => string | undefined) | undefined;
  readonly exposeErrors: boolean;
  readonly onError: (error: unknown, taskId: string | undefined) => void;
  readonly threads: ThreadConfiguration;
  readonly maxWait: number;
  readonly heartbeat: number;
  readonly backend: BackendFactory | undefined;
  readonly maxReplyBytes: number;
  readonly location: ((req: Req, id: string) => string) | undefined;
  readonly maxRerunBytes: number;
  readonly metrics: TaskMetrics | undefined;
  readonly tracing: boolean;
  readonly errorHandler: ErrorMiddleware | undefined;
  readonly maxEvents: number;
  readonly maxEventBytes: number;
  readonly maxStepBytes: number;
  /** The tracer, when `tracing` and @opentelemetry/api is there: set by whoever builds the backend. */
  readonly tracer?: TaskTracer;
}

export interface RouteConfiguration {
  readonly timeout: number | undefined;
  readonly readOnce: boolean;
  readonly idempotency: 'optional' | 'required';
  readonly retries: RetryConfiguration | undefined;
  /** The `name` option; `undefined`: named by Express's patterns. */
  readonly name?: string;
  /** The `errorHandler` option, when given. */
  readonly errorHandler?: ErrorMiddleware;
  /**
   * Set by the web layer when an error handler answers the route's failures (the route's own
   * or the global one): failures then keep the error's record (`Problem.error`), which names
   * the handler by this number (0: the global one). Absent: no record is kept.
   */
  readonly errorKey?: number;
}

export interface RetryConfiguration {
  readonly attempts: number;
  readonly backoff: { readonly type: 'fixed' | 'exponential'; readonly delay: number; readonly jitter: number };
  readonly retryOn: ((error: unknown) => boolean) | undefined;
}

export interface WorkerRouteConfiguration extends RouteConfiguration {
  readonly exportName: string;
  readonly queueTimeout: number | undefined;
}

function logServerErrors(error: unknown, taskId: string | undefined): void {
  if (statusOf(error) >= 500 && process.env.NODE_ENV !== 'test') {
    console.error(taskId === undefined ? 'express-async-api:' : `express-async-api: task ${taskId} failed:`, error);
  }
}

const defaults: Omit<Configuration, 'threads' | 'backend' | 'location' | 'metrics' | 'errorHandler' | 'failedTtl'> = {
  ttl: 300_000,
  statusPath: '/status',
  retryAfter: 1,
  maxTasks: 100_000,
  concurrency: Infinity,
  owner: undefined,
  exposeErrors: false,
  onError: logServerErrors,
  maxWait: 30,
  heartbeat: 15_000,
  maxReplyBytes: 64 * 1024 * 1024,
  maxRerunBytes: 64 * 1024,
  tracing: true,
  maxEvents: 100,
  maxEventBytes: 64 * 1024,
  maxStepBytes: 256 * 1024,
};

/** How a value reads in an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/**
 * Checks that `options` is a plain object whose keys are all known (any keys, when
 * `open`: options passed through to another library, which checks its own).
 */
export function checkKeys(options: unknown, known: readonly string[], where: string, open = false): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError(`${where} must be an object, got ${describe(options)}`);
  }
  for (const key of open ? [] : Object.keys(options)) {
    if (!known.includes(key)) {
      throw new InvalidOptionError(`${where}.${key} is not an option; the options are ${known.join(', ')}`);
    }
  }
  return options as Record<string, unknown>;
}

/** A positive number of milliseconds; `Infinity` only where `allowInfinity`. */
export function milliseconds(value: unknown, name: string, allowInfinity = false): number {
  const ok =
    typeof value === 'number' &&
    value > 0 &&
    (allowInfinity ? !Number.isNaN(value) : Number.isFinite(value) && value <= MAX_TIMER_DELAY);
  if (!ok) {
    const range = allowInfinity ? 'or Infinity' : `up to ${MAX_TIMER_DELAY}`;
    throw new InvalidOptionError(`${name} must be a positive number of milliseconds ${range}, got ${describe(value)}`);
  }
  return value;
}

/** A positive integer, or `Infinity`. */
export function count(value: unknown, name: string): number {
  if (!(typeof value === 'number' && value >= 1 && (Number.isInteger(value) || value === Infinity))) {
    throw new InvalidOptionError(`${name} must be a positive integer or Infinity, got ${describe(value)}`);
  }
  return value;
}

/** A positive whole number of bytes. */
export function bytes(value: unknown, name: string, zero = false): number {
  if (!(typeof value === 'number' && Number.isSafeInteger(value) && value >= (zero ? 0 : 1))) {
    throw new InvalidOptionError(`${name} must be a ${zero ? '' : 'positive '}whole number of bytes${zero ? ', 0 or more' : ''}, got ${describe(value)}`);
  }
  return value;
}

export function booleanOption(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError(`${name} must be true or false, got ${describe(value)}`);
  return value;
}

/** An error middleware: a function of four parameters, as Express tells error middleware by. */
function errorMiddleware(value: unknown, name: string): ErrorMiddleware {
  if (typeof value !== 'function' || value.length !== 4) {
    throw new InvalidOptionError(`${name} must be an Express error middleware, a function (err, req, res, next) of four parameters, got ${typeof value === 'function' ? `a function of ${value.length}` : describe(value)}`);
  }
  return value as ErrorMiddleware;
}

export function functionOption<F>(value: unknown, name: string): F {
  if (typeof value !== 'function') throw new InvalidOptionError(`${name} must be a function, got ${describe(value)}`);
  return value as F;
}

// A path of one or more segments of URL path characters, without a trailing slash.
const pathPattern = /^(\/[A-Za-z0-9\-._~!$&'()*+,;=:@%]+)+$/;

function statusPath(value: unknown): string {
  if (typeof value !== 'string' || !pathPattern.test(value)) {
    throw new InvalidOptionError(
      `options.statusPath must be a path such as "/status": a leading slash, no trailing slash, no query, got ${describe(value)}`,
    );
  }
  return value;
}

function seconds(value: unknown, name: string): number {
  if (!(typeof value === 'number' && Number.isInteger(value) && value >= 0)) {
    throw new InvalidOptionError(`${name} must be a whole number of seconds (0 or more), got ${describe(value)}`);
  }
  return value;
}

const optionNames = [
  'ttl',
  'statusPath',
  'retryAfter',
  'maxTasks',
  'concurrency',
  'owner',
  'exposeErrors',
  'onError',
  'threads',
  'maxWait',
  'heartbeat',
  'backend',
  'maxReplyBytes',
  'location',
  'maxRerunBytes',
  'metrics',
  'tracing',
  'errorHandler',
  'maxEvents',
  'maxEventBytes',
  'maxStepBytes',
  'failedTtl',
] as const;

const metricsMethods = ['submitted', 'rejected', 'finished', 'census', 'monitored'] as const;

/** What `asyncApiMetrics()` returns, checked by its methods: prom-client's own objects are not. */
export function metricsOption(value: unknown, name: string): TaskMetrics | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || !metricsMethods.every((method) => typeof (value as Record<string, unknown>)[method] === 'function')) {
    throw new InvalidOptionError(`${name} must be what asyncApiMetrics() of express-async-api/metrics returns, got ${describe(value)}`);
  }
  return value as TaskMetrics;
}

/** A whole number of milliseconds, 0 or more. */
function delay(value: unknown, name: string): number {
  if (!(typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_TIMER_DELAY)) {
    throw new InvalidOptionError(`${name} must be a whole number of milliseconds from 0 to ${MAX_TIMER_DELAY}, got ${describe(value)}`);
  }
  return value;
}

function integer(value: unknown, name: string): number {
  if (!(typeof value === 'number' && Number.isInteger(value) && value >= 1)) {
    throw new InvalidOptionError(`${name} must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

const limitNames = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;

function resourceLimits(value: unknown): ResourceLimits | undefined {
  if (value === undefined) return undefined;
  const given = checkKeys(value, limitNames, 'options.threads.resourceLimits');
  for (const [key, limit] of Object.entries(given)) {
    if (!(typeof limit === 'number' && limit > 0 && Number.isFinite(limit))) {
      throw new InvalidOptionError(`options.threads.resourceLimits.${key} must be a positive number of megabytes, got ${describe(limit)}`);
    }
  }
  return given as ResourceLimits;
}

function threadOptions(value: unknown): ThreadConfiguration {
  const given = checkKeys(value, ['min', 'max', 'idleTimeout', 'resourceLimits', 'gracePeriod'], 'options.threads');
  const min = given.min === undefined ? undefined : integer(given.min, 'options.threads.min');
  const max = given.max === undefined ? Math.max(availableParallelism(), min ?? 1) : integer(given.max, 'options.threads.max');
  if (min !== undefined && min > max) {
    throw new InvalidOptionError(`options.threads.min (${min}) must not be more than options.threads.max (${max})`);
  }
  return {
    min,
    max,
    idleTimeout: given.idleTimeout === undefined ? 30_000 : delay(given.idleTimeout, 'options.threads.idleTimeout'),
    resourceLimits: resourceLimits(given.resourceLimits),
    gracePeriod: given.gracePeriod === undefined ? 1_000 : delay(given.gracePeriod, 'options.threads.gracePeriod'),
  };
}

/** Fills in defaults and checks every option; errors name the option and the value. */
export function resolveOptions<Req>(options?: AsyncApiOptions<Req>): Configuration<Req> {
  const given = checkKeys(options, optionNames, 'options');
  const pick = <K extends keyof typeof defaults>(key: K): unknown => (given[key] === undefined ? defaults[key] : given[key]);
  const ttl = milliseconds(pick('ttl'), 'options.ttl', true);
  return {
    ttl,
    failedTtl: given.failedTtl === undefined ? ttl : milliseconds(given.failedTtl, 'options.failedTtl', true),
    statusPath: statusPath(pick('statusPath')),
    retryAfter: seconds(pick('retryAfter'), 'options.retryAfter'),
    maxTasks: count(pick('maxTasks'), 'options.maxTasks'),
    concurrency: count(pick('concurrency'), 'options.concurrency'),
    owner: given.owner === undefined ? undefined : functionOption(given.owner, 'options.owner'),
    exposeErrors: booleanOption(pick('exposeErrors'), 'options.exposeErrors'),
    onError: functionOption(pick('onError'), 'options.onError'),
    threads: threadOptions(given.threads),
    maxWait: seconds(pick('maxWait'), 'options.maxWait'),
    heartbeat: milliseconds(pick('heartbeat'), 'options.heartbeat'),
    backend: given.backend === undefined ? undefined : functionOption(given.backend, 'options.backend'),
    maxReplyBytes: bytes(pick('maxReplyBytes'), 'options.maxReplyBytes'),
    location: given.location === undefined ? undefined : functionOption(given.location, 'options.location'),
    maxRerunBytes: bytes(pick('maxRerunBytes'), 'options.maxRerunBytes', true),
    metrics: metricsOption(given.metrics, 'options.metrics'),
    tracing: booleanOption(pick('tracing'), 'options.tracing'),
    errorHandler: given.errorHandler === undefined ? undefined : errorMiddleware(given.errorHandler, 'options.errorHandler'),
    maxEvents: count(pick('maxEvents'), 'options.maxEvents'),
    maxEventBytes: bytes(pick('maxEventBytes'), 'options.maxEventBytes'),
    maxStepBytes: bytes(pick('maxStepBytes'), 'options.maxStepBytes'),
  };
}

/** Checks `routeOptions.retries`. */
function resolveRetries(value: unknown): RetryConfiguration | undefined {
  const where = 'routeOptions.retries';
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 1_000) throw new InvalidOptionError(`${where} must be a whole number of retries from 0 to 1000, or { attempts, backoff, retryOn }, got ${describe(value)}`);
    return value === 0 ? undefined : { attempts: value + 1, backoff: { type: 'exponential', delay: 1_000, jitter: 0 }, retryOn: undefined };
  }
  const given = checkKeys(value, ['attempts', 'backoff', 'retryOn'], where);
  const { attempts } = given;
  if (typeof attempts !== 'number' || !Number.isInteger(attempts) || attempts < 1 || attempts > 1_001) {
    throw new InvalidOptionError(`${where}.attempts must be a whole number of attempts from 1 to 1001 (the first included), got ${describe(attempts)}`);
  }
  const backoff = checkKeys(given.backoff, ['type', 'delay', 'jitter'], `${where}.backoff`);
  const type = backoff.type ?? 'exponential';
  if (type !== 'fixed' && type !== 'exponential') throw new InvalidOptionError(`${where}.backoff.type must be 'fixed' or 'exponential', got ${describe(type)}`);
  const delay = backoff.delay === undefined ? 1_000 : backoff.delay === 0 ? 0 : milliseconds(backoff.delay, `${where}.backoff.delay`);
  const jitter = backoff.jitter ?? 0;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) throw new InvalidOptionError(`${where}.backoff.jitter must be a fraction from 0 to 1, got ${describe(jitter)}`);
  const retryOn = given.retryOn === undefined ? undefined : functionOption<(error: unknown) => boolean>(given.retryOn, `${where}.retryOn`);
  return attempts === 1 ? undefined : { attempts, backoff: { type, delay, jitter }, retryOn };
}

/** Checks the options of one route. */
export function resolveRouteOptions(options: RouteOptions | undefined): RouteConfiguration {
  const given = checkKeys(options, ['timeout', 'readOnce', 'idempotency', 'retries', 'name', 'errorHandler'], 'routeOptions');
  if (given.name !== undefined && (typeof given.name !== 'string' || given.name === '' || given.name.length > 200)) {
    throw new InvalidOptionError(`routeOptions.name must be a non-empty string of at most 200 characters, got ${describe(given.name)}`);
  }
  if (given.readOnce !== undefined && typeof given.readOnce !== 'boolean') {
    throw new InvalidOptionError(`routeOptions.readOnce must be true or false, got ${describe(given.readOnce)}`);
  }
  if (given.idempotency !== undefined && given.idempotency !== 'optional' && given.idempotency !== 'required') {
    throw new InvalidOptionError(`routeOptions.idempotency must be 'optional' or 'required', got ${describe(given.idempotency)}`);
  }
  return {
    timeout: given.timeout === undefined ? undefined : milliseconds(given.timeout, 'routeOptions.timeout'),
    readOnce: given.readOnce === true,
    idempotency: (given.idempotency as 'optional' | 'required' | undefined) ?? 'optional',
    retries: given.retries === undefined ? undefined : resolveRetries(given.retries),
    ...(given.name === undefined ? {} : { name: given.name as string }),
    ...(given.errorHandler === undefined ? {} : { errorHandler: errorMiddleware(given.errorHandler, 'routeOptions.errorHandler') }),
  };
}

/** Checks the options of one route whose handler is a module. */
export function resolveWorkerRouteOptions(options: WorkerRouteOptions | undefined): WorkerRouteConfiguration {
  const { export: exportName, queueTimeout, ...rest } = checkKeys(options, ['timeout', 'readOnce', 'idempotency', 'retries', 'name', 'errorHandler', 'export', 'queueTimeout'], 'routeOptions');
  if (exportName !== undefined && (typeof exportName !== 'string' || exportName === '')) {
    throw new InvalidOptionError(`routeOptions.export must be the name of an export, got ${describe(exportName)}`);
  }
  return {
    ...resolveRouteOptions(rest),
    exportName: exportName ?? 'default',
    queueTimeout: queueTimeout === undefined ? undefined : milliseconds(queueTimeout, 'routeOptions.queueTimeout'),
  };
}

/** Checks the options of `close()`. */
export function resolveCloseOptions(options: CloseOptions | undefined): { timeout: number } {
  const given = checkKeys(options, ['timeout'], 'closeOptions');
  return { timeout: given.timeout === undefined ? 10_000 : milliseconds(given.timeout, 'closeOptions.timeout') };
}

import type { BackendCensus, TaskTrace } from './observer.js';
import type { Configuration, RouteConfiguration, WorkerRouteConfiguration } from './options.js';
import type { ExecutionContext } from './runner.js';
import type { BackendStats } from './admin.js';
import type { TaskStore } from './store.js';
import type { Reply } from './task.js';

/** A job run in this process: a closure over the request, given its task's context. */
export type InlineJob = (context: ExecutionContext) => Promise<Reply>;

/**
 * What a handler module sees of the request: plain data that can be cloned to another
 * thread or serialised into a queue. What Express computed from the app's settings
 * (`ip`, `protocol`, `hostname`, `subdomains`, `query`) is copied as computed.
 */
export interface RequestSnapshot {
  readonly method: string;
  readonly url: string;
  readonly originalUrl: string;
  readonly baseUrl: string;
  readonly path: string;
  readonly params: Record<string, string | string[]>;
  readonly query: Record<string, unknown>;
  readonly body: unknown;
  /** Without the conditional and `Range` headers: those apply to the replay. */
  readonly headers: Record<string, string | string[] | undefined>;
  readonly ip: string | undefined;
  readonly ips: readonly string[];
  readonly protocol: string;
  readonly hostname: string | undefined;
  readonly subdomains: readonly string[];
  /** What cookie-parser parsed, when it ran. */
  readonly cookies?: Record<string, unknown>;
  readonly signedCookies?: Record<string, unknown>;
}

/** The response as middleware left it before the handler: its status and headers. */
export interface ResponseSnapshot {
  readonly statusCode: number;
  /** `[name, value, …]`, as `Reply.headers`. */
  readonly headers: readonly string[];
}

/**
 * The app's settings that change what Express's `res` methods send, where they are plain
 * values: `etag`, `json spaces`, `json escape`, `jsonp callback name`. (Functions, such as
 * a `json replacer` or an `etag` function, cannot travel to another thread.)
 */
export type AppSettings = Readonly<Record<string, string | number | boolean>>;

/** A job for a module: run on a worker thread, or by a worker process. */
export type ModuleJob = HandlerModuleJob | CallModuleJob;

/** A job for a handler module: its export is called as `(req, res, next)`, as a route. */
export interface HandlerModuleJob {
  readonly kind?: 'handler';
  /** The module's URL (a `file:` URL). */
  readonly module: string;
  /** The export to call: `default` unless the route says otherwise. */
  readonly exportName: string;
  readonly request: RequestSnapshot;
  readonly response: ResponseSnapshot;
  readonly settings: AppSettings;
  /** The largest reply body recorded (`maxReplyBytes`). */
  readonly maxReplyBytes: number;
}

/**
 * A job of a task defined in code (`tasks.define(name, moduleUrl)`): its export is called as
 * `(input, task)`, and what it returns is the task's answer, as JSON.
 */
export interface CallModuleJob {
  readonly kind: 'call';
  readonly module: string;
  readonly exportName: string;
  /** What `submit()` was given: structured-cloneable (JSON, for a backend that queues JSON). */
  readonly input: unknown;
  readonly maxReplyBytes: number;
}

/**
 * Where tasks are kept and where their jobs run. `memoryBackend()` keeps them in this
 * process; other backends may keep them elsewhere and run them on other machines.
 */
export interface Backend {
  readonly store: TaskStore;
  /**
   * Gets the inline job of a task that was just created running in this process, after
   * the current turn of the event loop. `undefined` when this backend cannot run inline
   * jobs; wrapping an inline handler then fails. `trace`: what its submit captured of its
   * trace context, when traced (see `TaskTrace`); each attempt runs as its child.
   */
  readonly runInline: ((id: string, job: InlineJob, route: RouteConfiguration, trace?: TaskTrace) => void) | undefined;
  /**
   * Gets the job of a handler module running: on this process's thread pool, or on a
   * worker process (the job then carries `trace`). May reject (nothing could take the job);
   * the task is then forgotten.
   */
  runModule(id: string, job: ModuleJob, route: WorkerRouteConfiguration, trace?: TaskTrace, options?: RunModuleOptions): void | Promise<void>;
  /** Whether worker routes may set `queueTimeout`: its tasks may wait for workers that are not there. */
  readonly queueTimeouts: boolean;
  /**
   * How a job's data travels: `'clone'` (to a thread of this process, by the structured
   * clone algorithm) or `'json'` (into a queue). What `submit()` accepts as input follows.
   */
  readonly jobData: 'clone' | 'json';
  /**
   * Drops the job of a task canceled while its job waited outside a run (queued, between
   * attempts, or parked for an event), where the backend holds one (the store has ended the
   * task already; a job left behind is discarded when taken).
   */
  readonly dropQueued?: (id: string) => Promise<void>;
  /**
   * A task's awaited event came (the store's `sendEvent` said `woke`): its run goes on, or, when
   * it ended where it waited (parked), runs again. A backend whose runs cannot wait has none.
   */
  readonly wake?: (id: string) => void | Promise<void>;
  /** Where its tasks run, as the dashboard shows it: this process's thread pool, or the worker processes. */
  readonly stats?: () => Promise<BackendStats>;
  /** What it holds now, for the gauges of `metrics` (read at each scrape). */
  readonly census?: () => BackendCensus | Promise<BackendCensus>;
  /** Lets live tasks finish for up to `timeout` ms, aborts the rest, then releases everything. */
  close(timeout: number): Promise<void>;
}

/** How a module's job is run, beyond its task and route. */
export interface RunModuleOptions {
  /** The task was rewound so often (`TaskStore.rewind`): this is a run of it again, under its id. */
  readonly rewinds?: number;
}

/** Builds a backend for a configuration; what the `backend` option takes. */
export type BackendFactory = (config: Configuration<never>) => Backend;

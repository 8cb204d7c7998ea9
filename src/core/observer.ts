// What the core tells of its tasks to metrics and traces. Two small interfaces, both
// optional: without the `metrics` option, or with no OpenTelemetry SDK registered, the core
// holds `undefined` for them and calls nothing (one comparison per call site, no allocation).
// Their implementations live in src/metrics (prom-client) and src/tracing (@opentelemetry/api).
import type { Task } from './task.js';

/** Why a submit was refused: the store was full, the server shutting down, or the store unreachable. */
export type RejectReason = 'limit' | 'shutting_down' | 'store_unavailable';

/** How a monitor was read: a plain poll, a `Prefer: wait`, an event stream. */
export type MonitorKind = 'poll' | 'wait' | 'events';

/** What a backend holds at this moment, for gauges read at scrape time; a count it cannot tell is absent. */
export interface BackendCensus {
  readonly queued?: number;
  readonly running?: number;
  /** Running tasks that wait for an outside event (durable tasks), in this process. */
  readonly waiting?: number;
  /** Tasks held in the store, live and finished (what `maxTasks` bounds). */
  readonly held?: number;
  /** The worker-thread pool, once it started. */
  readonly threads?: ThreadPoolStats;
}

export interface ThreadPoolStats {
  readonly threads: number;
  /** piscina's utilization: the share of its capacity the pool used, from 0 to 1. */
  readonly utilization: number;
  /** Tasks waiting on the pool for a thread. */
  readonly queue: number;
}

/**
 * Counts and times tasks (implemented by `asyncApiMetrics()`). Called by the registry (a
 * submit made a task, or was refused), by the store as observed (a task started or ended: the
 * one write that did it, in whichever process made it, so that summed over processes each task
 * counts once), by backends (their census) and by the monitor (its reads).
 */
export interface TaskMetrics {
  /** A submit created a task (not: an Idempotency-Key's repeat). */
  submitted(task: Task): void;
  /** A submit was refused. `route` as the task would have had it. */
  rejected(route: string | undefined, reason: RejectReason): void;
  /** A task ended; `task` as it ended (its route, status, problem and times). */
  finished(task: Task): void;
  /** Adds a source of the task and thread gauges; returns a function that removes it. */
  census(source: () => BackendCensus | Promise<BackendCensus>): () => void;
  /** A monitor read began. For a held wait or an event stream, call the function returned when it ends. */
  monitored(kind: MonitorKind): (() => void) | undefined;
}

/**
 * What travels with a task from its submit to its run, in its job: the submit's trace context
 * as propagation headers (W3C `traceparent`, `tracestate`), and the route that names its span.
 * Plain strings: it crosses threads and queues.
 */
export interface TaskTrace {
  readonly route?: string;
  readonly headers: Readonly<Record<string, string>>;
  /**
   * The submit's context itself, for a run in the process that captured it (no headers to
   * parse then). Never crosses a process: a backend that queues the trace sends `route` and
   * `headers` only.
   */
  readonly local?: unknown;
}

/** One attempt of a task as its span. */
export interface RunSpan {
  /** The span's context as propagation headers, for a job run on another thread. */
  readonly headers: Readonly<Record<string, string>>;
  /** Calls `fn` with the span's context active: what the handler creates nests under it. */
  within<T>(fn: () => T): T;
  /** The attempt started running (it may have waited for a slot of its executor). */
  started(): void;
  progress(fraction: number, message: string | undefined): void;
  /** A run waits for an outside event (`waitForEvent`). */
  waiting?(event: string): void;
  /**
   * Ends the span: `outcome` is how the attempt ended (`parked`: the run ended where it waits
   * for an event, and its task runs again when it comes); `error` what failed it.
   */
  end(outcome: 'succeeded' | 'failed' | 'canceled' | 'timed_out' | 'retried' | 'parked', error?: unknown): void;
}

/** Traces tasks (implemented on @opentelemetry/api, when an SDK is registered). */
export interface TaskTracer {
  /** At a submit that created `task`, in the submit's context: what its job carries; `undefined` when nothing is traced now. */
  capture(task: Task): TaskTrace | undefined;
  /** An attempt of a task begins in this process's runner: its span, child of the submit's. */
  run(id: string, attempt: number, trace: TaskTrace): RunSpan | undefined;
  /**
   * A monitor read of task `id` begins, in the request's context: a span with the task's id,
   * linked to the task's span (when this process knows it). Call the function returned when
   * the read is answered.
   */
  monitored(kind: MonitorKind, id: string): (() => void) | undefined;
}

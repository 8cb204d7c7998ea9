// What a web process puts on the queue for worker processes: types only, shared by both.
import type { ModuleJob } from '../core/backend.js';
import type { TaskTrace } from '../core/observer.js';

/** The data of a BullMQ job: the task it runs, and how. */
export interface QueuedTask {
  readonly taskId: string;
  readonly job: ModuleJob;
  /** The route's timeout, in milliseconds of run time. */
  readonly timeout?: number;
  /** The route's retries (its `retryOn`, a function, cannot travel: such routes are refused). */
  readonly retries?: { readonly attempts: number; readonly backoff: { readonly type: 'fixed' | 'exponential'; readonly delay: number; readonly jitter: number } };
  /** The submit's trace context (W3C `traceparent`, `tracestate`) and route, when it was traced. */
  readonly trace?: TaskTrace;
  /**
   * The route's `errorKey`, when an error handler of the web processes answers its failures:
   * the worker keeps the error's record then (it does not know the web's options).
   */
  readonly errorKey?: number;
  /**
   * Set by the worker that parked the job (its run waits for an outside event, and the job
   * waits delayed until the event comes or the wait's deadline): the task runs already, for
   * `spent` ms so far.
   */
  readonly resume?: { readonly spent: number };
}

/**
 * How long a job whose wait has no deadline stays delayed at a time: when it comes back without
 * its event, its run finds it still waiting and parks it again.
 */
export const PARK_AT_MOST = 7 * 24 * 60 * 60_000;

/**
 * What a worker's processor throws for a failed attempt that is retried: BullMQ then runs
 * the job again after the backoff the runner chose (the worker's `backoffStrategy`).
 */
export class RetryLater extends Error {
  constructor() {
    super('The attempt failed and is retried.');
    this.name = 'RetryLater';
  }
}

/** The name of the jobs, on queues that may hold others. */
export const jobName = 'express-async-api';

// What a web process puts on the queue for worker processes: types only, shared by both.
import type { ModuleJob } from '../core/backend.js';

/** The data of a BullMQ job: the task it runs, and how. */
export interface QueuedTask {
  readonly taskId: string;
  readonly job: ModuleJob;
  /** The route's timeout, in milliseconds of run time. */
  readonly timeout?: number;
}

/** The name of the jobs, on queues that may hold others. */
export const jobName = 'express-async-api';

// The messages between the thread pool (main thread) and the thread entry (worker
// thread). Types only: both sides import them, neither imports the other.
import type { MessagePort } from 'node:worker_threads';
import type { ModuleJob } from '../core/backend.js';
import type { ErrorShape } from '../core/errors.js';
import type { Reply } from '../core/task.js';

/** What piscina hands the thread entry for one task. */
export interface ThreadTask {
  readonly job: ModuleJob;
  readonly taskId: string;
  /** Our own channel for this task: progress and start out, abort in. */
  readonly port: MessagePort;
}

/** What the thread entry resolves with: always cloneable, never a rejection. */
export type ThreadResult = { readonly ok: true; readonly reply: Reply } | { readonly ok: false; readonly error: ErrorShape };

/** Thread → main, on the task's port. */
export type FromThread =
  | { readonly type: 'started' }
  | { readonly type: 'progress'; readonly fraction: number; readonly message: string | undefined };

/** Main → thread, on the task's port: the task aborted (canceled, timed out, shut down). */
export interface ToThread {
  readonly type: 'abort';
  readonly reason: ErrorShape;
}

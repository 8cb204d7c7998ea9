// The messages between the thread pool (main thread) and the thread entry (worker
// thread). Types only: both sides import them, neither imports the other.
//
// There is no channel per task: transferring a MessagePort to a thread for each task left
// about 2 KB per task in the thread for good. A thread sends its messages on piscina's own
// (the pool's 'message' event), tagged with the task; it makes one channel of its own when
// it starts, on which the pool sends it aborts.
import type { MessagePort } from 'node:worker_threads';
import type { ModuleJob } from '../core/backend.js';
import type { ErrorShape } from '../core/errors.js';
import type { Reply } from '../core/task.js';

/** What piscina hands the thread entry for one task. */
export interface ThreadTask {
  readonly job: ModuleJob;
  readonly taskId: string;
  /** The trace context of the task's run, as propagation headers (W3C `traceparent`, `tracestate`), when traced. */
  readonly trace?: Readonly<Record<string, string>>;
  /** An error handler will read its failure: the error comes back with its own properties. */
  readonly keepErrors?: true;
}

/** What the thread entry resolves with: always cloneable, never a rejection. */
export type ThreadResult =
  | { readonly ok: true; readonly reply: Reply }
  /**
   * The handler queued effects after commit: its reply came first, as a `reply` message, and
   * the task went on until the pool's word (`commit` or `discard`) and its effects were done.
   */
  | { readonly ok: true; readonly replied: true }
  | { readonly ok: false; readonly error: ErrorShape }
  /** The handler waits for an outside event: the run ends here, and runs again when it comes. */
  | { readonly ok: true; readonly parked: true };

/** The key that marks our messages among others a handler module may post. */
export const tag = 'expressAsyncApi';

/** Thread → main, on piscina's channel (the pool's 'message' event). */
export type FromThread =
  /** Once per thread, as it starts: where to send it aborts. */
  | { readonly [tag]: 'channel'; readonly threadId: number; readonly port: MessagePort }
  | { readonly [tag]: 'started'; readonly taskId: string; readonly threadId: number }
  | { readonly [tag]: 'progress'; readonly taskId: string; readonly fraction: number; readonly message: string | undefined }
  /** A success with effects to come: the reply, before the task ends. */
  | { readonly [tag]: 'reply'; readonly taskId: string; readonly reply: Reply }
  /** An effect after commit threw (the next ones still run). */
  | { readonly [tag]: 'effect-error'; readonly taskId: string; readonly error: ErrorShape }
  /** A step or a wait asks the task's durable record (see `DurableCall`); the answer comes on the thread's channel. */
  | { readonly [tag]: 'durable'; readonly taskId: string; readonly call: number; readonly request: DurableCall };

/**
 * What a handler's `step()` and `waitForEvent()` ask of the main thread, which keeps the task's
 * record: a step's kept result (`lookUp`), to keep one (`keep`), the next event of a name (`await`).
 */
export type DurableCall =
  | { readonly op: 'lookUp'; readonly name: string }
  | { readonly op: 'keep'; readonly name: string; readonly json: string }
  | { readonly op: 'await'; readonly name: string; readonly timeout: number | undefined };

/**
 * Main → thread, on the thread's channel: a task aborted (canceled, timed out, shut down);
 * a task's success was stored, so its effects run (`commit`), or it was not (`discard`).
 */
export type ToThread =
  | { readonly type: 'abort'; readonly taskId: string; readonly reason: ErrorShape }
  | { readonly type: 'commit' | 'discard'; readonly taskId: string }
  /**
   * The answer to a `DurableCall`: a step's kept JSON (or `undefined`: none), an event's JSON
   * (`null`: the wait timed out), `parked` (the run ends here), or the error it failed with.
   */
  | { readonly type: 'durable'; readonly taskId: string; readonly call: number; readonly value?: string | null; readonly parked?: true; readonly error?: ErrorShape };

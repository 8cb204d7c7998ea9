import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ModuleJob } from '../core/backend.js';
import { TransferError, WorkerCrashedError, fromErrorShape, toErrorShape } from '../core/errors.js';
import type { ThreadConfiguration } from '../core/options.js';
import type { ExecutionContext, Executor } from '../core/runner.js';
import type { Reply } from '../core/task.js';
import { tag, type FromThread, type ThreadResult, type ThreadTask, type ToThread } from './thread-messages.js';

// Built as an entry point of its own, next to this module's bundle.
const threadEntry = new URL('./thread-entry.js', import.meta.url);

/**
 * What piscina takes as a task's abort signal, as small as it can be: one listener, and
 * `abort()`. (An AbortController and its signal cost more than the rest of a queued task.)
 */
class Terminate {
  aborted = false;
  #listener: (() => void) | undefined;
  once(_type: 'abort', listener: () => void): void {
    this.#listener = listener;
  }
  removeListener(): void {
    this.#listener = undefined;
  }
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.();
  }
}

/** A task on the pool, as the pool's messages reach it. */
interface OnPool {
  readonly context: ExecutionContext;
  /** The thread that runs it, once started. */
  thread: number | undefined;
  begin(thread: number): void;
}

/**
 * Runs handler modules on a pool of worker threads (piscina). A task is `queued` until
 * a thread takes it. When it aborts, its handler's signal aborts inside the thread; a
 * handler that has not settled `gracePeriod` ms later has its thread terminated and
 * replaced, so even a loop that never looks at its signal ends. A thread that exits,
 * throws outside the handler or runs out of memory fails only its own task.
 */
export class ThreadPoolExecutor implements Executor<ModuleJob> {
  readonly #config: ThreadConfiguration;
  readonly #onPoolError: (error: unknown) => void;
  #pool: Piscina<ThreadTask, ThreadResult> | undefined;
  // Each thread's channel for aborts, by thread id; each task on the pool, by id.
  readonly #channels = new Map<number, MessagePort>();
  readonly #tasks = new Map<string, OnPool>();

  constructor(config: ThreadConfiguration, onPoolError: (error: unknown) => void) {
    this.#config = config;
    this.#onPoolError = onPoolError;
  }

  // The pool starts with the first task: an app without worker routes starts no threads.
  #getPool(): Piscina<ThreadTask, ThreadResult> {
    if (this.#pool === undefined) {
      const { min, max, idleTimeout, resourceLimits } = this.#config;
      const pool = new Piscina<ThreadTask, ThreadResult>({
        filename: threadEntry.href,
        maxThreads: max,
        ...(min === undefined ? {} : { minThreads: min }),
        idleTimeout,
        ...(resourceLimits === undefined ? {} : { resourceLimits }),
      });
      // A thread that fails between tasks (a late callback of a finished handler throws).
      pool.on('error', this.#onPoolError);
      pool.on('message', (message: FromThread) => this.#fromThread(message));
      pool.on('workerDestroy', (worker: { threadId: number }) => {
        this.#channels.get(worker.threadId)?.close();
        this.#channels.delete(worker.threadId);
      });
      this.#pool = pool;
    }
    return this.#pool;
  }

  #fromThread(message: FromThread): void {
    switch (message?.[tag]) {
      case 'channel':
        message.port.unref();
        this.#channels.set(message.threadId, message.port);
        break;
      case 'started':
        this.#tasks.get(message.taskId)?.begin(message.threadId);
        break;
      case 'progress':
        this.#tasks.get(message.taskId)?.context.progress(message.fraction, message.message);
        break;
      default:
      // A message a handler module posted itself: not ours.
    }
  }

  async execute(job: ModuleJob, context: ExecutionContext): Promise<Reply> {
    const { id } = context;
    const terminate = new Terminate();
    let grace: NodeJS.Timeout | undefined;

    // Not started yet: piscina drops it from its queue. Running: the handler is told,
    // and its thread terminated if it has not settled within the grace period.
    const stop = (): void => {
      const channel = task.thread === undefined ? undefined : this.#channels.get(task.thread);
      if (channel === undefined) return terminate.abort();
      channel.postMessage({ type: 'abort', taskId: id, reason: toErrorShape(context.reason) } satisfies ToThread);
      grace = setTimeout(() => terminate.abort(), this.#config.gracePeriod);
      grace.unref();
    };
    const task: OnPool = {
      context,
      thread: undefined,
      begin(thread) {
        if (task.thread !== undefined) return;
        task.thread = thread;
        if (!context.start()) stop();
      },
    };
    this.#tasks.set(id, task);
    const stopListening = context.onAbort(stop);

    try {
      let result: ThreadResult;
      try {
        result = await this.#getPool().run({ job, taskId: id }, { signal: terminate as unknown as AbortSignal });
      } catch (error) {
        if (terminate.aborted) throw context.reason;
        if ((error as Error).name === 'DataCloneError') {
          throw new TransferError(`The request cannot be passed to a worker thread: ${(error as Error).message}`, { cause: error });
        }
        throw new WorkerCrashedError((error as Error).message, { cause: error });
      }
      // The thread's "started" travels on another channel than its result, and may come second.
      task.begin(-1);
      if (result.ok) return result.reply;
      throw fromErrorShape(result.error);
    } finally {
      clearTimeout(grace);
      stopListening();
      this.#tasks.delete(id);
    }
  }

  /** Ends every thread; tasks still on the pool are rejected. */
  async close(): Promise<void> {
    await this.#pool?.destroy();
    for (const channel of this.#channels.values()) channel.close();
    this.#channels.clear();
  }
}

import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ModuleJob } from '../core/backend.js';
import { TransferError, WorkerCrashedError, fromErrorShape, toErrorShape } from '../core/errors.js';
import type { ThreadConfiguration } from '../core/options.js';
import type { ExecutionContext, Executor } from '../core/runner.js';
import type { Reply } from '../core/task.js';
import type { FromThread, ThreadResult, ThreadTask, ToThread } from './thread-messages.js';

// Built as an entry point of its own, next to this module's bundle.
const threadEntry = new URL('./thread-entry.js', import.meta.url);

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

  constructor(config: ThreadConfiguration, onPoolError: (error: unknown) => void) {
    this.#config = config;
    this.#onPoolError = onPoolError;
  }

  // The pool starts with the first task: an app without worker routes starts no threads.
  #getPool(): Piscina<ThreadTask, ThreadResult> {
    if (this.#pool === undefined) {
      const { min, max, idleTimeout, resourceLimits } = this.#config;
      this.#pool = new Piscina({
        filename: threadEntry.href,
        maxThreads: max,
        ...(min === undefined ? {} : { minThreads: min }),
        idleTimeout,
        ...(resourceLimits === undefined ? {} : { resourceLimits }),
      });
      // A thread that fails between tasks (a late callback of a finished handler throws).
      this.#pool.on('error', this.#onPoolError);
    }
    return this.#pool;
  }

  async execute(job: ModuleJob, context: ExecutionContext): Promise<Reply> {
    const { port1, port2 } = new MessageChannel();
    const terminate = new AbortController();
    let started = false;
    let grace: NodeJS.Timeout | undefined;

    // Not started yet: piscina drops it from its queue. Running: the handler is told,
    // and its thread terminated if it has not settled within the grace period.
    const stop = (): void => {
      if (!started) return terminate.abort();
      port1.postMessage({ type: 'abort', reason: toErrorShape(context.reason) } satisfies ToThread);
      grace = setTimeout(() => terminate.abort(), this.#config.gracePeriod);
      grace.unref();
    };
    const begin = (): void => {
      if (started) return;
      started = true;
      if (!context.start()) stop();
    };
    port1.on('message', (message: FromThread) => {
      if (message.type === 'started') begin();
      else if (message.type === 'progress') context.progress(message.fraction, message.message);
    });
    const stopListening = context.onAbort(stop);

    try {
      let result: ThreadResult;
      try {
        const task: ThreadTask = { job, taskId: context.id, port: port2 };
        result = await this.#getPool().run(task, { transferList: [port2], signal: terminate.signal });
      } catch (error) {
        if (terminate.signal.aborted) throw context.reason;
        if ((error as Error).name === 'DataCloneError') {
          throw new TransferError(`The request cannot be passed to a worker thread: ${(error as Error).message}`, { cause: error });
        }
        throw new WorkerCrashedError((error as Error).message, { cause: error });
      }
      // The thread's "started" travels on another channel than its result, and may come second.
      begin();
      if (result.ok) return result.reply;
      throw fromErrorShape(result.error);
    } finally {
      clearTimeout(grace);
      stopListening();
      port1.close();
    }
  }

  /** Ends every thread; tasks still on the pool are rejected. */
  async close(): Promise<void> {
    await this.#pool?.destroy();
  }
}

import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ModuleJob } from '../core/backend.js';
import { parked } from '../core/durable.js';
import { TransferError, WorkerCrashedError, fromErrorShape, toErrorShape, type ErrorShape } from '../core/errors.js';
import type { ThreadPoolStats } from '../core/observer.js';
import type { ThreadConfiguration } from '../core/options.js';
import type { ExecutionContext, Executor } from '../core/runner.js';
import type { Reply } from '../core/task.js';
import { tag, type DurableCall, type FromThread, type ThreadResult, type ThreadTask, type ToThread } from './thread-messages.js';

// Built as an entry point of its own, next to this module's bundle.
const threadEntry = new URL('./thread-entry.js', import.meta.url);

/**
 * A task on the pool: what the pool's messages reach, and what piscina takes as the task's
 * abort signal (one listener, `aborted`): one small object for each queued task, where an
 * AbortController and a few closures would cost more than the rest of it.
 */
class PoolTask {
  aborted = false;
  /** The thread that runs it, once started. */
  thread: number | undefined = undefined;
  /** Takes its reply when it comes before the task's end (the handler queued effects). */
  onReply: ((reply: Reply) => void) | undefined = undefined;
  #listener: (() => void) | undefined = undefined;
  #grace: NodeJS.Timeout | undefined = undefined;

  constructor(
    readonly context: ExecutionContext,
    readonly channels: ReadonlyMap<number, MessagePort>,
    readonly gracePeriod: number,
  ) {}

  // piscina's side of the signal.
  once(_type: 'abort', listener: () => void): void {
    this.#listener = listener;
  }
  removeListener(): void {
    this.#listener = undefined;
  }

  /** Drops it from piscina's queue, or terminates the thread that runs it. */
  terminate(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.();
  }

  /** A thread took it: it runs, unless it was aborted while it waited. */
  begin(thread: number): void {
    if (this.thread !== undefined) return;
    this.thread = thread;
    if (!this.context.start()) this.stop();
  }

  // Not started yet: piscina drops it from its queue. Running: the handler is told, and its
  // thread terminated if it has not settled within the grace period.
  stop(): void {
    const channel = this.thread === undefined ? undefined : this.channels.get(this.thread);
    if (channel === undefined) return this.terminate();
    channel.postMessage({ type: 'abort', taskId: this.context.id, reason: toErrorShape(this.context.reason) } satisfies ToThread);
    this.#grace = setTimeout(() => this.terminate(), this.gracePeriod);
    this.#grace.unref();
  }

  end(): void {
    clearTimeout(this.#grace);
  }
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
  readonly #onPoolError: (error: unknown, taskId?: string) => void;
  #pool: Piscina<ThreadTask, ThreadResult> | undefined;
  // Each thread's channel for aborts, by thread id; each task on the pool, by id.
  readonly #channels = new Map<number, MessagePort>();
  readonly #tasks = new Map<string, PoolTask>();
  // The thread of each task that succeeded with effects after commit, until they are settled.
  readonly #committing = new Map<string, number>();
  // The runs on the pool of tasks that replied before their end (they have effects to run).
  readonly #replied = new Set<Promise<unknown>>();

  constructor(config: ThreadConfiguration, onPoolError: (error: unknown, taskId?: string) => void) {
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
      pool.on('error', (error: unknown) => this.#onPoolError(error));
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
      case 'reply':
        this.#tasks.get(message.taskId)?.onReply?.(message.reply);
        break;
      case 'effect-error':
        this.#onPoolError(fromErrorShape(message.error), message.taskId);
        break;
      case 'durable':
        void this.#durable(message.taskId, message.call, message.request);
        break;
      default:
      // A message a handler module posted itself: not ours.
    }
  }

  // A handler's step or wait, answered from its task's record on the thread's channel.
  async #durable(taskId: string, call: number, request: DurableCall): Promise<void> {
    const task = this.#tasks.get(taskId);
    const channel = task?.thread === undefined ? undefined : this.#channels.get(task.thread);
    if (task === undefined || channel === undefined) return;
    const answer = (fields: { value?: string | null; parked?: true; error?: ErrorShape }): void =>
      channel.postMessage({ type: 'durable', taskId, call, ...fields } satisfies ToThread);
    try {
      const { durable } = task.context;
      if (request.op === 'lookUp') answer({ value: (await durable.lookUp(request.name)) ?? undefined });
      else if (request.op === 'keep') {
        await durable.keep(request.name, request.json);
        answer({});
      } else {
        const value = await durable.awaitEvent(request.name, request.timeout);
        answer(value === parked ? { parked: true } : { value });
      }
    } catch (error) {
      answer({ error: toErrorShape(error) });
    }
  }

  async execute(job: ModuleJob, context: ExecutionContext): Promise<Reply> {
    const { id } = context;
    const task = new PoolTask(context, this.#channels, this.#config.gracePeriod);
    this.#tasks.set(id, task);
    const stopListening = context.onAbort(() => task.stop());
    try {
      let result: ThreadResult | Reply;
      try {
        const { trace } = context;
        const message: { -readonly [K in keyof ThreadTask]: ThreadTask[K] } = trace === undefined ? { job, taskId: id } : { job, taskId: id, trace };
        if (context.errorKey !== undefined) message.keepErrors = true;
        const run = this.#getPool().run(message, { signal: task as unknown as AbortSignal });
        result = await new Promise<ThreadResult | Reply>((resolve, reject) => {
          run.then(resolve, reject);
          // A reply before the end: the task goes on, on its thread, until its effects are settled.
          task.onReply = (reply) => {
            if (task.thread !== undefined) this.#committing.set(id, task.thread);
            const rest = run.catch((error: unknown) => this.#onPoolError(error, id)).finally(() => this.#replied.delete(rest));
            this.#replied.add(rest);
            resolve(reply);
          };
        });
      } catch (error) {
        if (task.aborted) throw context.reason;
        if ((error as Error).name === 'DataCloneError') {
          throw new TransferError(`The request cannot be passed to a worker thread: ${(error as Error).message}`, { cause: error });
        }
        throw new WorkerCrashedError((error as Error).message, { cause: error });
      }
      // The thread's "started" travels on another channel than its result, and may come second.
      task.begin(-1);
      if (!('ok' in result)) return result;
      if (result.ok) {
        if ('reply' in result) return result.reply;
        // The run waits for an event: the runner knows (the task parked), and ends the run.
        if ('parked' in result) throw new Error('The run ended where it waits for an event.');
        throw new WorkerCrashedError('the thread ended the task without its reply');
      }
      throw fromErrorShape(result.error);
    } finally {
      task.end();
      stopListening();
      // (A run of the task that came after this one, a rewind of a canceled run, is another's.)
      if (this.#tasks.get(id) === task) this.#tasks.delete(id);
    }
  }
  /** The task's success was stored (its effects run, on their thread), or it was not (they are dropped). */
  settleEffects(id: string, committed: boolean): void {
    const thread = this.#committing.get(id);
    if (thread === undefined) return;
    this.#committing.delete(id);
    this.#channels.get(thread)?.postMessage({ type: committed ? 'commit' : 'discard', taskId: id } satisfies ToThread);
  }


  /** The pool's threads, how busy they were, and the tasks waiting for one (none before the first task). */
  stats(): ThreadPoolStats {
    const pool = this.#pool;
    if (pool === undefined) return { threads: 0, utilization: 0, queue: 0 };
    return { threads: pool.threads.length, utilization: pool.utilization, queue: pool.queueSize };
  }

  /** Ends every thread; tasks still on the pool are rejected. */
  async close(): Promise<void> {
    // Tasks that replied and now run their effects after commit, on their threads: they have
    // the grace period to end, as a canceled handler has.
    if (this.#replied.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled(this.#replied), new Promise((resolve) => (timer = setTimeout(resolve, this.#config.gracePeriod)))]);
      clearTimeout(timer);
    }
    await this.#pool?.destroy();
    for (const channel of this.#channels.values()) channel.close();
    this.#channels.clear();
  }
}

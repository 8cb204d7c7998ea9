import { v4 as uuidv4 } from 'uuid';
import { ShuttingDownError, StoreUnavailableError, TaskFinishedError, TaskLimitError, TaskNotFoundError } from './errors.js';
import type { RejectReason, TaskMetrics, TaskTrace, TaskTracer } from './observer.js';
import type { Backend } from './backend.js';
import type { DurableLimits } from './durable.js';
import type { NewTask, TaskListener, TaskStore } from './store.js';
import { isFinished, type Rerun, type Task } from './task.js';

/**
 * The front door to the tasks: submits them, finds them, cancels them, scoped by owner.
 * Where tasks are kept is the store's business; where they run is the caller's (`start`).
 */
export class TaskRegistry {
  readonly #store: TaskStore;
  readonly #onQueuedCancel: ((id: string) => Promise<void>) | undefined;
  readonly #wake: ((id: string) => void | Promise<void>) | undefined;
  readonly #metrics: TaskMetrics | undefined;
  readonly #tracer: TaskTracer | undefined;
  #closing = false;

  /**
   * `backend.dropQueued` hears of a task canceled while its job waited outside a run (queued,
   * between attempts, parked), after the store ended it: where its job waits elsewhere (a queue
   * in Redis), it may be dropped there. `backend.wake` hears of a task whose awaited event came.
   * `observers`: metrics count submits and refusals; a tracer captures each submit's context.
   */
  constructor(
    store: TaskStore,
    backend: Pick<Backend, 'dropQueued' | 'wake'> = {},
    observers: { metrics?: TaskMetrics | undefined; tracer?: TaskTracer | undefined } = {},
  ) {
    this.#store = store;
    this.#onQueuedCancel = backend.dropQueued?.bind(backend);
    this.#wake = backend.wake?.bind(backend);
    this.#metrics = observers.metrics;
    this.#tracer = observers.tracer;
  }

  /**
   * Registers a queued task and hands its id to `start`, which gets its job running.
   * Rejects with `ShuttingDownError` after `close()` began and with `TaskLimitError` when
   * the store is full. If `start` throws, the task is forgotten again: nothing stays
   * half-registered. `start` is given what the tracer captured of the submit's context, for
   * its job to carry (`undefined` when not traced).
   */
  async submit(owner: string | undefined, start: (id: string, trace?: TaskTrace) => void | Promise<void>, options: SubmitOptions = {}): Promise<Submitted> {
    if (this.#closing) {
      this.#metrics?.rejected(options.route, 'shutting_down');
      throw new ShuttingDownError();
    }
    const id = uuidv4();
    const fresh: { -readonly [K in keyof NewTask]: NewTask[K] } = { id, owner, createdAt: Date.now() };
    if (options.readOnce === true) fresh.readOnce = true;
    if (options.idempotency !== undefined) fresh.idempotency = options.idempotency;
    if (options.attempts !== undefined) fresh.attempts = options.attempts;
    if (options.route !== undefined) fresh.route = options.route;
    if (options.method !== undefined) fresh.method = options.method;
    if (options.url !== undefined) fresh.url = options.url;
    if (options.rerun !== undefined) fresh.rerun = options.rerun;
    let task: Task;
    try {
      task = await this.#store.create(fresh);
    } catch (error) {
      this.#rejected(options.route, error);
      throw error;
    }
    // The idempotency key's task, submitted before: it runs (or ran) already.
    if (task.id !== id) return { task, created: false };
    try {
      const starting = start(task.id, this.#tracer?.capture(task));
      if (starting !== undefined) await starting;
    } catch (error) {
      // If the store cannot be reached either, the task stays queued, unknown to any client.
      await this.#store.delete(task.id).catch(() => {});
      this.#rejected(options.route, error);
      throw error;
    }
    this.#metrics?.submitted(task);
    return { task, created: true };
  }

  // A refusal the metrics count: the store full or unreachable, or a shutdown begun meanwhile.
  #rejected(route: string | undefined, error: unknown): void {
    if (this.#metrics === undefined) return;
    const reason: RejectReason | undefined =
      error instanceof TaskLimitError ? 'limit' : error instanceof StoreUnavailableError ? 'store_unavailable' : error instanceof ShuttingDownError ? 'shutting_down' : undefined;
    if (reason !== undefined) this.#metrics.rejected(route, reason);
  }

  /** The task, if it exists and `owner` may see it; else rejects with `TaskNotFoundError`. */
  async get(id: string, owner: string | undefined): Promise<Task> {
    const task = await this.#store.get(id);
    if (task === undefined || task.owner !== owner) throw new TaskNotFoundError(id);
    return task;
  }

  /**
   * The task as a reader that receives its answer gets it: a finished read-once task is
   * taken from the store, so that of many readers one gets it and the others
   * `TaskNotFoundError`, as later readers do. Any other task as it is.
   */
  async claim(task: Task): Promise<Task> {
    if (task.readOnce !== true || !isFinished(task.status)) return task;
    const taken = await this.#store.take(task.id);
    if (taken === undefined || !isFinished(taken.status)) throw new TaskNotFoundError(task.id);
    return taken;
  }

  /**
   * Cancels a queued or running task: it ends `canceled` and its signal aborts. Rejects
   * with `TaskNotFoundError`, or `TaskFinishedError` when it had already finished.
   */
  async cancel(id: string, owner: string | undefined): Promise<Task> {
    const task = await this.get(id, owner);
    if (isFinished(task.status)) throw new TaskFinishedError(id, task.status);
    const canceled = await this.#store.finish(id, { status: 'canceled' }, Date.now());
    if (canceled === undefined) {
      // It finished between the read and the cancel.
      const now = await this.get(id, owner);
      throw new TaskFinishedError(id, now.status);
    }
    // Best effort: a job left behind is discarded by whoever takes it, as the task has ended.
    // (Between two attempts, its next attempt's job waits too.)
    // (And while it waited for an event: its job may be parked.)
    if ((task.status === 'queued' || task.retryAt !== undefined || task.waitingFor !== undefined) && this.#onQueuedCancel !== undefined) {
      await this.#onQueuedCancel(id).catch(() => {});
    }
    return canceled;
  }

  /**
   * Sends an event (its JSON) to a task `owner` may see: kept for the task's waits of `name`,
   * and, when the task waits for it, its run goes on (its backend wakes it). With `key`, an
   * event delivered under that key already is not sent again. Resolves with the task as it is
   * now. Rejects with `TaskNotFoundError`, `TaskFinishedError` or `EventLimitError`.
   */
  async sendEvent(id: string, owner: string | undefined, name: string, json: string, limits: Pick<DurableLimits, 'maxEvents'>, key?: string): Promise<Task> {
    await this.get(id, owner);
    const sent = await this.#store.sendEvent(id, name, json, limits, key);
    if (sent.woke && this.#wake !== undefined) await this.#wake(id);
    return this.get(id, owner);
  }

  /**
   * Calls `listener` after each change of a task `owner` may see, until `stop()`. Resolves
   * with the task as it is now: the subscription comes first, so no change in between is lost.
   */
  async watch(id: string, owner: string | undefined, listener: TaskListener): Promise<{ task: Task; stop: () => void }> {
    const stop = this.#store.watch(id, listener);
    try {
      return { task: await this.get(id, owner), stop };
    } catch (error) {
      stop();
      throw error;
    }
  }

  /**
   * Resolves with the task once it has finished, or as it is when `timeout` ms have passed
   * or `signal` aborted, whichever is first. Nothing polls: the store tells of the end.
   */
  async settled(id: string, owner: string | undefined, timeout: number, signal?: AbortSignal): Promise<Task> {
    const ending = new Ending();
    const { task, stop } = await this.watch(id, owner, ending.listener);
    // The timeout and the abort resolve with the task as it was; read it as it is.
    return ending.wait(task, timeout, signal, stop, () => this.get(id, owner));
  }

  /**
   * Follows a task being submitted, from before its job is queued (call it in `submit`'s
   * `start`): nothing of it can happen unseen, so its end is waited for without a read.
   */
  follow(id: string): Following {
    const ending = new Ending();
    const stop = this.#store.watch(id, ending.listener);
    return {
      settled: (task, timeout, signal) => ending.wait(task, timeout, signal, stop, undefined),
      stop,
    };
  }

  /** Refuses new submissions from now on. */
  close(): void {
    this.#closing = true;
  }
}

/** How a task is submitted: see `NewTask`. */
export interface SubmitOptions {
  readonly readOnce?: boolean;
  /** With retries: the attempts it may have. */
  readonly attempts?: number;
  readonly idempotency?: { readonly key: string; readonly fingerprint: string };
  /** What it is submitted as (a route, a task's name), and the request's method and URL. */
  readonly route?: string;
  readonly method?: string;
  readonly url?: string;
  /** Its job, kept to run it again. */
  readonly rerun?: Rerun;
}

/** A submitted task, and whether this submit created it (not: an idempotency key's task). */
export interface Submitted {
  readonly task: Task;
  readonly created: boolean;
}

/** A task followed from its submit: see `TaskRegistry.follow()`. */
export interface Following {
  /** As `settled()`: the task once it ends, or as it is after `timeout` ms or when `signal` aborts. Stops following. */
  settled(task: Task, timeout: number, signal?: AbortSignal): Promise<Task>;
  /** Stops following, when the wait is not needed after all. */
  stop(): void;
}

// The changes of one task as its watch reports them, and a wait for its end.
class Ending {
  #latest: Task | undefined;
  #end: ((task: Task) => void) | undefined;

  readonly listener = (task: Task): void => {
    this.#latest = task;
    if (isFinished(task.status)) this.#end?.(task);
  };

  async wait(
    current: Task,
    timeout: number,
    signal: AbortSignal | undefined,
    stop: () => void,
    reread: (() => Promise<Task>) | undefined,
  ): Promise<Task> {
    // A change seen before `current` was read may be older than it; a finished task is not.
    const seen = isFinished(current.status) ? current : (this.#latest ?? current);
    if (isFinished(seen.status) || signal?.aborted) {
      stop();
      return seen;
    }
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => this.#end?.(this.#latest ?? current);
    try {
      const ended = await new Promise<Task>((resolve) => {
        this.#end = resolve;
        timer = setTimeout(() => resolve(this.#latest ?? current), timeout);
        timer.unref();
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      if (isFinished(ended.status) || reread === undefined) return ended;
      return await reread();
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.#end = undefined;
      stop();
    }
  }
}

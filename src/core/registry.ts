import { v4 as uuidv4 } from 'uuid';
import { ShuttingDownError, TaskFinishedError, TaskNotFoundError } from './errors.js';
import type { TaskListener, TaskStore } from './store.js';
import { isFinished, type Task } from './task.js';

/**
 * The front door to the tasks: submits them, finds them, cancels them, scoped by owner.
 * Where tasks are kept is the store's business; where they run is the caller's (`start`).
 */
export class TaskRegistry {
  readonly #store: TaskStore;
  #closing = false;

  constructor(store: TaskStore) {
    this.#store = store;
  }

  /**
   * Registers a queued task and hands its id to `start`, which gets its job running.
   * Rejects with `ShuttingDownError` after `close()` began and with `TaskLimitError` when
   * the store is full. If `start` throws, the task is forgotten again: nothing stays
   * half-registered.
   */
  async submit(owner: string | undefined, start: (id: string) => void | Promise<void>): Promise<Task> {
    if (this.#closing) throw new ShuttingDownError();
    const task = await this.#store.create({ id: uuidv4(), owner, createdAt: Date.now() });
    try {
      const starting = start(task.id);
      if (starting !== undefined) await starting;
    } catch (error) {
      // If the store cannot be reached either, the task stays queued, unknown to any client.
      await this.#store.delete(task.id).catch(() => {});
      throw error;
    }
    return task;
  }

  /** The task, if it exists and `owner` may see it; else rejects with `TaskNotFoundError`. */
  async get(id: string, owner: string | undefined): Promise<Task> {
    const task = await this.#store.get(id);
    if (task === undefined || task.owner !== owner) throw new TaskNotFoundError(id);
    return task;
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
    return canceled;
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
    let finish!: (task: Task) => void;
    const ended = new Promise<Task>((resolve) => {
      finish = resolve;
    });
    const { task, stop } = await this.watch(id, owner, (changed) => {
      if (isFinished(changed.status)) finish(changed);
    });
    if (isFinished(task.status) || signal?.aborted) {
      stop();
      return task;
    }
    const timer = setTimeout(() => finish(task), timeout);
    timer.unref();
    const onAbort = (): void => finish(task);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await ended;
      // The timeout and the abort resolve with the task as it was; read it as it is.
      return isFinished(result.status) ? result : await this.get(id, owner);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      stop();
    }
  }

  /** Refuses new submissions from now on. */
  close(): void {
    this.#closing = true;
  }
}

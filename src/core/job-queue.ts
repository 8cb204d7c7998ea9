import Denque from 'denque';
import { problemFromError } from './problem.js';
import type { TaskTrace } from './observer.js';
import type { RetryConfiguration } from './options.js';
import type { Executor, TaskRunner } from './runner.js';
import type { TaskStore } from './store.js';

interface Waiting<J> {
  readonly id: string;
  readonly job: J;
  readonly timeout: number | undefined;
  readonly retries: RetryConfiguration | undefined;
  /** From 1; a later attempt's task is running (between attempts) as it waits. */
  readonly attempt: number;
  /** What its submit captured of its trace, when traced. */
  readonly trace: TaskTrace | undefined;
  /** Its route's `errorKey`: its failure keeps the error's record. */
  readonly errorKey: number | undefined;
}

/**
 * Jobs waiting for a slot of an executor, each as small as a record: a task gets its
 * runner's machinery (its abort state, its watch of the store, its place on the thread
 * pool) only when a slot frees. Thousands may so wait behind busy threads at little cost. A
 * job whose task was canceled (or has gone) while it waited is dropped when its turn comes.
 */
export class JobQueue<J> {
  readonly #waiting = new Denque<Waiting<J>>();
  readonly #slots: number;
  readonly #runner: TaskRunner;
  readonly #executor: Executor<J>;
  readonly #store: TaskStore;
  #running = 0;
  #closed = false;
  // Why tasks end that come after abandon().
  #abandoned: { reason: unknown } | undefined = undefined;
  #idle: (() => void)[] = [];

  /** Jobs waiting here for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  constructor(slots: number, runner: TaskRunner, executor: Executor<J>, store: TaskStore) {
    this.#slots = slots;
    this.#runner = runner;
    this.#executor = executor;
    this.#store = store;
  }

  /**
   * Queues the job of a queued task; it runs when a slot is free, in the order they came.
   * After `abandon()` (a submit that began before the shutdown), the task ends at once with
   * the reason the others ended with.
   */
  push(id: string, job: J, timeout: number | undefined, retries?: RetryConfiguration, attempt = 1, trace?: TaskTrace, errorKey?: number): void {
    if (this.#abandoned !== undefined) {
      void this.#fail(id, this.#abandoned.reason, errorKey);
      return;
    }
    this.#waiting.push({ id, job, timeout, retries, attempt, trace, errorKey });
    this.#pump();
  }

  /** Resolves once nothing waits and nothing runs. */
  whenIdle(): Promise<void> {
    if (this.#running === 0 && this.#waiting.isEmpty()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Takes nothing more from the queue, and ends each task still waiting with `reason`. */
  async abandon(reason: unknown): Promise<void> {
    this.#closed = true;
    this.#abandoned = { reason };
    const left = this.#waiting.toArray();
    this.#waiting.clear();
    await Promise.all(left.map(({ id, errorKey }) => this.#fail(id, reason, errorKey)));
    this.#settle();
  }

  #fail(id: string, reason: unknown, errorKey: number | undefined): Promise<unknown> {
    return this.#store.finish(id, { status: 'failed', problem: problemFromError(reason, errorKey) }, Date.now()).catch(() => {});
  }

  #pump(): void {
    while (!this.#closed && this.#running < this.#slots) {
      const next = this.#waiting.shift();
      if (next === undefined) break;
      this.#running++;
      void this.#run(next);
    }
    this.#settle();
  }

  async #run({ id, job, timeout, retries, attempt, trace, errorKey }: Waiting<J>): Promise<void> {
    try {
      // Canceled (or gone) while it waited: the store says so, and the job never reaches a
      // thread. A store that cannot be read now leaves it to the runner, which reports that.
      const task = await this.#store.get(id).then(
        (found) => found ?? null,
        () => undefined,
      );
      if (task === null || (task !== undefined && task.status !== (attempt === 1 ? 'queued' : 'running'))) return;
      const plan = retries === undefined ? undefined : { attempt, policy: retries };
      const retryIn = await this.#runner.run(id, job, this.#executor, timeout, attempt > 1, plan, trace, errorKey);
      // Its next attempt waits its turn again, after the backoff.
      if (retryIn !== undefined) this.#runner.later(id, retryIn, () => this.push(id, job, timeout, retries, attempt + 1, trace, errorKey), errorKey);
    } finally {
      this.#running--;
      this.#pump();
    }
  }

  #settle(): void {
    if (this.#running > 0 || !this.#waiting.isEmpty() || this.#idle.length === 0) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}

import Denque from 'denque';
import { at } from './durable.js';
import { problemFromError } from './problem.js';
import type { TaskTrace } from './observer.js';
import type { RetryConfiguration } from './options.js';
import type { Executor, TaskRunner } from './runner.js';
import type { TaskStore } from './store.js';

/** A job for a queue: its task, and how to run it. */
export interface QueuedJob<J> {
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
  /** A run after a wait for an event: its task runs already, for so many ms so far. */
  readonly resume?: { readonly spent: number } | undefined;
}

/** A job whose run ended where it waits for an event: it runs again when the event comes, or at its deadline. */
interface ParkedJob<J> {
  readonly job: QueuedJob<J>;
  cancel: () => void;
}

/**
 * Jobs waiting for a slot of an executor, each as small as a record: a task gets its
 * runner's machinery (its abort state, its watch of the store, its place on the thread
 * pool) only when a slot frees. Thousands may so wait behind busy threads at little cost. A
 * job whose task was canceled (or has gone) while it waited is dropped when its turn comes.
 *
 * A job whose run waits for an outside event is parked here, holding no slot (and no thread):
 * `wake()` queues it again when its event comes, and its deadline does.
 */
export class JobQueue<J> {
  readonly #waiting = new Denque<QueuedJob<J>>();
  readonly #parked = new Map<string, ParkedJob<J>>();
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

  /** Jobs parked here, waiting for an outside event. */
  get parked(): number {
    return this.#parked.size;
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
  push(job: QueuedJob<J>): void {
    if (this.#abandoned !== undefined) {
      void this.#fail(job.id, this.#abandoned.reason, job.errorKey);
      return;
    }
    this.#waiting.push(job);
    this.#pump();
  }

  /** A parked job's event came: it is queued again. Returns whether one was parked here. */
  wake(id: string): boolean {
    const parked = this.#parked.get(id);
    if (parked === undefined) return false;
    this.#parked.delete(id);
    parked.cancel();
    this.push(parked.job);
    return true;
  }

  /** Forgets a parked job whose task ended (a cancel). */
  drop(id: string): void {
    this.#parked.get(id)?.cancel();
    this.#parked.delete(id);
  }

  /** Resolves once nothing waits and nothing runs (parked jobs aside). */
  whenIdle(): Promise<void> {
    if (this.#running === 0 && this.#waiting.isEmpty()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Takes nothing more from the queue, and ends each task still waiting or parked with `reason`. */
  async abandon(reason: unknown): Promise<void> {
    this.#closed = true;
    this.#abandoned = { reason };
    const left = [...this.#waiting.toArray(), ...[...this.#parked.values()].map(({ job, cancel }) => (cancel(), job))];
    this.#waiting.clear();
    this.#parked.clear();
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

  async #run(queued: QueuedJob<J>): Promise<void> {
    const { id, job, timeout, retries, attempt, trace, errorKey, resume } = queued;
    try {
      // Canceled (or gone) while it waited: the store says so, and the job never reaches a
      // thread. A store that cannot be read now leaves it to the runner, which reports that.
      const task = await this.#store.get(id).then(
        (found) => found ?? null,
        () => undefined,
      );
      const live = attempt === 1 && resume === undefined ? 'queued' : 'running';
      if (task === null || (task !== undefined && task.status !== live)) return;
      const retry = retries === undefined ? undefined : { attempt, policy: retries };
      const end = await this.#runner.run(id, job, this.#executor, { timeout, takeOver: attempt > 1, retry, trace, errorKey, parkable: true, resume });
      // Its next attempt waits its turn again, after the backoff.
      if (typeof end === 'number') this.#runner.later(id, end, () => this.push({ ...queued, attempt: attempt + 1, resume: undefined }), errorKey);
      else if (end !== undefined) this.#park({ ...queued, resume: { spent: end.spent } }, end.until);
    } finally {
      this.#running--;
      this.#pump();
    }
  }

  // Parks a job until its event or its deadline. Its event may have come while its run was
  // ending (a wake that found no parked job): the store then says it waits no more.
  #park(job: QueuedJob<J>, until: number | undefined): void {
    if (this.#closed) {
      void this.#fail(job.id, this.#abandoned?.reason, job.errorKey);
      return;
    }
    // In place before its deadline is armed: a deadline passed already wakes it at once.
    const parked: { job: QueuedJob<J>; cancel: () => void } = { job, cancel: () => {} };
    this.#parked.set(job.id, parked);
    if (until !== undefined) parked.cancel = at(until, () => this.wake(job.id));
    this.#store.get(job.id).then(
      (task) => {
        if (task === undefined || task.status !== 'running') this.drop(job.id);
        else if (task.waitingFor === undefined) this.wake(job.id);
      },
      () => {},
    );
  }

  #settle(): void {
    if (this.#running > 0 || !this.#waiting.isEmpty() || this.#idle.length === 0) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}

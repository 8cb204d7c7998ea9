import type { WaitOptions } from './durable.js';
import type { ExecutionContext } from './runner.js';

/**
 * What a handler learns of its task (`req.task`), and a task defined in code (its second
 * argument): the same wherever it runs, inline, on a thread or in a worker process.
 */
export interface TaskInfo {
  readonly id: string;
  /** Aborts when the task is canceled, times out, or the server shuts down; `reason` says which. */
  readonly signal: AbortSignal;
  /** Reports progress, shown by the monitor: a fraction from 0 to 1 and an optional message. */
  progress(fraction: number, message?: string): void;
  /**
   * Queues an effect (a log line, an e-mail, a task submitted) to run once the task has
   * succeeded and its reply is stored, in the order queued; dropped if it fails, is
   * canceled or times out. An effect that throws goes to `onError`; the next still run.
   */
  afterCommit(effect: () => unknown): void;
  /**
   * Runs `fn` once per task, and keeps its result (JSON, at most `maxStepBytes`) with the task: a
   * later run of the task (a retry, a pickup after a crash, a resume after a wait) gets the kept
   * result without calling `fn`. `name` is the step's, unique within a run (a `TypeError`
   * otherwise). A step that throws keeps nothing. Code outside steps runs again on each run.
   */
  step<T>(name: string, fn: () => T | Promise<T>): Promise<Awaited<T>>;
  /**
   * Waits for an outside event named `name` (1 to 64 characters of `A–Z a–z 0–9 _ . -`), sent
   * to the task's monitor (`POST <monitor>/events/<name>`) or with `tasks.sendEvent()`: resolves
   * with its JSON value, or `undefined` once `timeout` ms pass (none: as long as the task is
   * kept). Events of a name are kept in order, and each wait of the name takes the next; one sent
   * before the wait is kept for it. While it waits the task holds no thread and no slot: in a
   * worker thread or a worker process its run ends here, and runs again from the top when the
   * event comes.
   */
  waitForEvent(name: string, options?: WaitOptions): Promise<unknown>;
}

/** A task's `TaskInfo` in this process, over its runner's context; the signal is made when first asked for. */
export class ContextTaskInfo implements TaskInfo {
  readonly #context: ExecutionContext;
  constructor(context: ExecutionContext) {
    this.#context = context;
  }
  get id(): string {
    return this.#context.id;
  }
  get signal(): AbortSignal {
    return this.#context.signal;
  }
  progress(fraction: number, message?: string): void {
    this.#context.progress(fraction, message);
  }
  afterCommit(effect: () => unknown): void {
    this.#context.afterCommit(effect);
  }
  step<T>(name: string, fn: () => T | Promise<T>): Promise<Awaited<T>> {
    return this.#context.durable.step(name, fn);
  }
  waitForEvent(name: string, options?: WaitOptions): Promise<unknown> {
    return this.#context.durable.waitForEvent(name, options);
  }
}

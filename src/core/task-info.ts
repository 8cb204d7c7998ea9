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
}

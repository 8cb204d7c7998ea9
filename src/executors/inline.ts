import Denque from 'denque';
import type { InlineJob } from '../core/backend.js';
import type { ExecutionContext, Executor } from '../core/runner.js';
import type { Reply } from '../core/task.js';

/**
 * Runs inline jobs on this event loop, at most `concurrency` at once; the others wait,
 * `queued`, in arrival order. A job starts on a later turn of the event loop than the
 * one that submitted it, so the 202 is written before any of the handler runs.
 *
 * A slot is freed when the job settles or its signal aborts, whichever is first: a
 * handler that ignores its signal cannot hold a slot forever.
 */
export class InlineExecutor implements Executor<InlineJob> {
  readonly #concurrency: number;
  // Each waiting job's wake-up; waking one hands it the slot being freed.
  readonly #waiting = new Denque<() => void>();
  #running = 0;
  // The next turn of the event loop, shared by every job submitted in this one.
  #nextTurn: Promise<void> | undefined;

  constructor(concurrency: number) {
    this.#concurrency = concurrency;
  }

  async execute(job: InlineJob, context: ExecutionContext): Promise<Reply> {
    await (this.#nextTurn ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.#nextTurn = undefined;
        resolve();
      }),
    ));
    if (this.#running < this.#concurrency) this.#running++;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      // Aborted while it waited: the runner has already ended the task with the abort's
      // reason, and the slot passes on untouched.
      if (!context.start()) throw new Error('The task was aborted before it started.');
      return await context.untilAborted(job(context));
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#running--;
      else next();
    }
  }

  async close(): Promise<void> {}
}

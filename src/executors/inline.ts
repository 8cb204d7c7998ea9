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
    const turn = this.#acquire();
    if (turn !== undefined) await turn;
    let held = true;
    if (this.#concurrency !== Infinity) {
      // A run that waits for an outside event gives its slot back meanwhile.
      context.slot = {
        release: () => {
          if (!held) return;
          held = false;
          this.#release();
        },
        acquire: async () => {
          if (held) return;
          const again = this.#acquire();
          if (again !== undefined) await again;
          held = true;
        },
      };
    }
    try {
      // Aborted while it waited: the runner has already ended the task with the abort's
      // reason, and the slot passes on untouched.
      if (!context.start()) throw new Error('The task was aborted before it started.');
      return await context.untilAborted(job(context));
    } finally {
      if (held) {
        held = false;
        this.#release();
      }
    }
  }

  #acquire(): Promise<void> | undefined {
    if (this.#running < this.#concurrency) {
      this.#running++;
      return undefined;
    }
    return new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  // Frees a slot: the next job waiting for one takes it.
  #release(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#running--;
    else next();
  }

  async close(): Promise<void> {}
}

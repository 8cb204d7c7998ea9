// Tells the operator of a web process when no worker process serves its queue: tasks then
// stay queued, and nothing else would say why. Logged at start and on each change to or
// from none, never at every check.

/** What the census needs of BullMQ's Queue. */
interface Workers {
  getWorkers(): Promise<unknown[]>;
}

export class WorkerCensus {
  readonly #queue: Workers;
  readonly #name: string;
  readonly #log: (line: string) => void;
  readonly #timer: NodeJS.Timeout;
  #known: number | undefined;
  #checking = false;

  /** Checks every `interval` ms (an unref'd timer) until `stop()`; call `check()` for the first. */
  constructor(queue: Workers, name: string, interval: number, log: (line: string) => void) {
    this.#queue = queue;
    this.#name = name;
    this.#log = log;
    this.#timer = setInterval(() => void this.check(), interval);
    this.#timer.unref();
  }

  /** Counts the queue's worker processes, and says so if that is none, or no longer none. */
  async check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    let count: number;
    try {
      count = (await this.#queue.getWorkers()).length;
    } catch {
      // Redis unreachable: submits and monitors say so (503); the next check counts again.
      return;
    } finally {
      this.#checking = false;
    }
    const known = this.#known;
    this.#known = count;
    if (count === 0 && known !== 0) {
      this.#log(
        `express-async-api: no worker process takes tasks from queue "${this.#name}"; they stay queued until one starts (npx express-async-api worker --queue ${this.#name})`,
      );
    } else if (count > 0 && known === 0) {
      this.#log(`express-async-api: ${count} worker process${count === 1 ? '' : 'es'} now take${count === 1 ? 's' : ''} tasks from queue "${this.#name}"`);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

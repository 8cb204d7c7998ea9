import Denque from 'denque';

/** What the queue needs of a task: when it finished (ms since the epoch), once it has. */
export interface Expiring {
  readonly finishedAt: number | undefined;
}

/**
 * Finished tasks of one time to live, in the order they finished, which is the order they
 * expire: the janitor takes them from the front, so a sweep costs what it removes. A task that
 * left its place early (rewound: live again, to finish later) is marked stale and skipped when
 * its old place comes to the front; a task that finishes again has a new place at the back.
 */
export class ExpiryQueue<T extends Expiring> {
  readonly ttl: number;
  readonly #queue = new Denque<T>();
  // Tasks with a place that is no longer theirs, and how many such places each has.
  readonly #stale = new Map<T, number>();

  constructor(ttl: number) {
    this.ttl = ttl;
  }

  get length(): number {
    return this.#queue.length;
  }

  push(task: T): void {
    this.#queue.push(task);
  }

  /** The task's place (if it has one) is not its own anymore: it is skipped when it comes. */
  leave(task: T): void {
    this.#stale.set(task, (this.#stale.get(task) ?? 0) + 1);
  }

  /** Takes the front task if it expired by `now` (skipping stale places); `undefined` when none did. */
  shiftExpired(now: number): T | undefined {
    for (;;) {
      const front = this.#queue.peekFront();
      if (front === undefined) return undefined;
      const stale = this.#stale.get(front);
      if (stale !== undefined) {
        this.#queue.shift();
        if (stale === 1) this.#stale.delete(front);
        else this.#stale.set(front, stale - 1);
        continue;
      }
      if ((front.finishedAt as number) + this.ttl > now) return undefined;
      this.#queue.shift();
      return front;
    }
  }

  /** When the front task expires (ms since the epoch); `undefined` for an empty queue. */
  nextDue(): number | undefined {
    const front = this.#queue.peekFront();
    if (front === undefined) return undefined;
    // A stale place is due at once: the sweep skips it.
    if (this.#stale.has(front)) return 0;
    return (front.finishedAt as number) + this.ttl;
  }
}

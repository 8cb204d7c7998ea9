/**
 * Effects waiting for a commit, run in the order they were queued, each after the one
 * before it has settled. An effect that throws is reported, and the next still runs.
 */
export class EffectQueue {
  #effects: (() => unknown)[] = [];

  add(effect: () => unknown): void {
    this.#effects.push(effect);
  }

  /** Runs the queued effects (and any they queue meanwhile), in order; resolves when all have settled. */
  async run(onError: (error: unknown) => void): Promise<void> {
    for (let effect = this.#effects.shift(); effect !== undefined; effect = this.#effects.shift()) {
      try {
        await effect();
      } catch (error) {
        onError(error);
      }
    }
  }

  /** Takes the queued effects out, in order (to queue them elsewhere). */
  take(): (() => unknown)[] {
    const effects = this.#effects;
    this.#effects = [];
    return effects;
  }

  /** Drops the queued effects: what they were for did not happen. */
  discard(): void {
    this.#effects = [];
  }
}

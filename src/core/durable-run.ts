// One run of a durable task: its steps and waits, replayed from the store's record of the
// task (see durable.ts). The runner makes one per run, on the first step or wait.
import {
  checkEventName,
  checkStepName,
  checkWaitOptions,
  emptyRecord,
  fromJson,
  parked,
  toJson,
  type DurableLimits,
  type DurableRecord,
  type DurableRun,
  type WaitOptions,
} from './durable.js';
import { InvalidResultError, TaskCanceledError } from './errors.js';
import type { TaskStore } from './store.js';

/** What a run's steps and waits need of the task they run in. */
export interface DurableHost {
  readonly id: string;
  readonly store: TaskStore;
  readonly limits: DurableLimits;
  /** The run may end where it waits, to run again when its event comes (a thread's, a worker process's). */
  readonly parkable: boolean;
  /** Settles like `promise`, or rejects with the task's abort reason as soon as it aborts. */
  race<T>(promise: Promise<T>): Promise<T>;
  readonly reason: unknown;
  /** Milliseconds the task has run, over its runs, less the time it waited. */
  spent(): number;
  /** A wait for `event` begins: the store hears of the task's start first, its timeout stops counting. */
  beginWait(event: string): Promise<void>;
  /**
   * Waits here, holding nothing others need, until the task is woken (its event came), `until`
   * passes, or it aborts (then rejects). `woken` says whether a wake came already: a waker
   * is in place before the store is asked, so that no wake is missed.
   */
  waitHere(until: number | undefined): Promise<void>;
  /** The run ends here, to run again when its event comes or at `until`. */
  park(until: number | undefined): void;
  /** A wait ended: the timeout counts again. */
  endWait(): Promise<void>;
}

/** The error of a step name given twice in one run: a `TypeError`, as a misuse of the API. */
function twice(name: string): TypeError {
  return new TypeError(`step("${name}") ran already in this run: each step of a task needs a name of its own`);
}

export class TaskDurableRun implements DurableRun {
  readonly #host: DurableHost;
  #record: Promise<DurableRecord> | undefined;
  // The names of the steps of this run, and how many waits of each event name it made.
  readonly #steps = new Set<string>();
  readonly #waits = new Map<string, number>();

  constructor(host: DurableHost) {
    this.#host = host;
  }

  /** The record as the run found it: read once, on first use. */
  record(): Promise<DurableRecord> {
    this.#record ??= this.#host.race(this.#host.store.durable(this.#host.id)).then((record) => record ?? emptyRecord);
    return this.#record;
  }

  async step<T>(name: string, fn: () => T | Promise<T>): Promise<Awaited<T>> {
    if (typeof fn !== 'function') throw new TypeError(`step("${String(name)}") takes a function`);
    const kept = await this.lookUp(name);
    if (kept !== undefined) return fromJson(kept) as Awaited<T>;
    const json = this.#checked(name, await fn());
    await this.keep(name, json);
    return fromJson(json) as Awaited<T>;
  }

  async lookUp(name: string): Promise<string | undefined> {
    checkStepName(name);
    if (this.#steps.has(name)) throw twice(name);
    this.#steps.add(name);
    return (await this.record()).steps.get(name);
  }

  async keep(name: string, json: string): Promise<void> {
    const bytes = Buffer.byteLength(json);
    const { maxStepBytes } = this.#host.limits;
    if (bytes > maxStepBytes) throw new InvalidResultError(`The result of step "${name}" is ${bytes} bytes of JSON, more than maxStepBytes (${maxStepBytes}).`);
    const host = this.#host;
    if (!(await host.race(host.store.keepStep(host.id, name, json)))) throw host.reason ?? new TaskCanceledError();
  }

  #checked(name: string, value: unknown): string {
    return toJson(value, `The result of step "${name}"`);
  }

  async waitForEvent(name: string, options?: WaitOptions): Promise<unknown> {
    const answer = await this.#await(checkEventName(name, 'waitForEvent()'), checkWaitOptions(options), false);
    return answer === null ? undefined : fromJson(answer as string);
  }

  awaitEvent(name: string, timeout: number | undefined): Promise<string | null | typeof parked> {
    return this.#await(checkEventName(name, 'waitForEvent()'), timeout, this.#host.parkable);
  }

  // The next event of `name` as JSON, null at its timeout; or `parked` for a run that ends here.
  async #await(name: string, timeout: number | undefined, mayPark: boolean): Promise<string | null | typeof parked> {
    const host = this.#host;
    const index = this.#waits.get(name) ?? 0;
    this.#waits.set(name, index + 1);
    const entry = (await this.record()).events.get(name)?.[index];
    if (entry !== undefined) return entry;
    // (A deadline the store has for this wait from an earlier run comes first: see TaskStore.wait.)
    const until = timeout === undefined ? undefined : Date.now() + timeout;
    await host.beginWait(name);
    try {
      for (;;) {
        const outcome = await host.race(host.store.wait(host.id, { event: name, index, until, now: Date.now(), spent: host.spent() }));
        switch (outcome.kind) {
          case 'event':
            return outcome.json;
          case 'timeout':
            return null;
          case 'ended':
            throw host.reason ?? new TaskCanceledError();
          case 'waiting':
            if (mayPark) {
              host.park(outcome.until);
              return parked;
            }
            await host.waitHere(outcome.until);
        }
      }
    } finally {
      await host.endWait();
    }
  }
}

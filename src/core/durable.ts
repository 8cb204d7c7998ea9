// Durable tasks: a task may run more than once (a retry, a pickup after a crash, a resume
// after a wait), and each run starts from the top. What a run must not do again it does in a
// step, whose result the store keeps with the task; what it waits for from outside is an
// event, which the store keeps too. A later run replays both from the store: its steps return
// their kept results without running, its waits are answered by the kept events.
import { InvalidArgumentError, InvalidResultError } from './errors.js';
import { MAX_TIMER_DELAY, describe } from './options.js';

/** What the store keeps of a task's steps and events, for its runs to replay. */
export interface DurableRecord {
  /** Each step's result as JSON (`''` for a step that returned `undefined`), by name. */
  readonly steps: ReadonlyMap<string, string>;
  /**
   * The events sent to the task, by name, in the order they came: each its value as JSON, or
   * `null` where a wait of that name timed out before one came (the next event of the name
   * goes to the next wait). The n-th wait of a name in a run is answered by the n-th entry.
   */
  readonly events: ReadonlyMap<string, readonly (string | null)[]>;
  /** Milliseconds its runs have run so far, less the time it waited (its route's timeout counts these). */
  readonly spent: number;
}

/** The record of a task that has none yet. */
export const emptyRecord: DurableRecord = { steps: new Map(), events: new Map(), spent: 0 };

/** What a waiting task waits for: the `index`-th event named `event`, until `until` (ms since the epoch), or as long as it is kept. */
export interface WaitingFor {
  readonly event: string;
  readonly index: number;
  readonly until: number | undefined;
}

/** A wait as a run asks the store for its event: see `TaskStore.wait`. */
export interface WaitRequest extends WaitingFor {
  /** Now, as the caller's clock says: a wait whose `until` has passed times out. */
  readonly now: number;
  /** The run's time so far, kept when the task waits (a run that parks resumes with it). */
  readonly spent: number;
}

/** How a wait stands: its event came (its JSON), it timed out, it waits, or the task is not live. */
export type WaitOutcome =
  | { readonly kind: 'event'; readonly json: string }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'waiting'; readonly until: number | undefined }
  | { readonly kind: 'ended' };

/** What sending an event did (see `TaskStore.sendEvent`). */
export interface SentEvent {
  /** It was kept (not: a repeat of an idempotency key already delivered). */
  readonly kept: boolean;
  /** The task was waiting for it: it runs on now (its runner must be woken). */
  readonly woke: boolean;
}

/** The limits of what a task keeps, from the options. */
export interface DurableLimits {
  /** Events kept per task at most (`maxEvents`). */
  readonly maxEvents: number;
  /** Bytes of one step's result as JSON at most (`maxStepBytes`). */
  readonly maxStepBytes: number;
}

const eventName = /^[A-Za-z0-9_.-]{1,64}$/;

/** Checks an event's name: 1 to 64 characters of `A–Z a–z 0–9 _ . -`. */
export function checkEventName(name: unknown, where: string): string {
  if (typeof name !== 'string' || !eventName.test(name)) {
    throw new InvalidArgumentError(`${where}: an event's name is 1 to 64 characters of A-Z a-z 0-9 _ . -, got ${describe(name)}`);
  }
  return name;
}

/** Checks a step's name: a non-empty string of at most 200 characters. */
export function checkStepName(name: unknown): string {
  if (typeof name !== 'string' || name === '' || name.length > 200) {
    throw new InvalidArgumentError(`step() takes a name, a non-empty string of at most 200 characters, got ${describe(name)}`);
  }
  return name;
}

/** A value as a step or an event keeps it: JSON (`''` for `undefined`); throws for what JSON cannot hold. */
export function toJson(value: unknown, what: string): string {
  if (value === undefined) return '';
  if (typeof value === 'function' || typeof value === 'symbol') throw new InvalidResultError(`${what} is a ${typeof value}, which cannot be kept as JSON.`);
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new InvalidResultError(`${what} cannot be kept as JSON: ${(error as Error).message}`, { cause: error });
  }
  return json ?? '';
}

/** A kept value back: a fresh copy on each run, so that the first run and its replays see the same. */
export function fromJson(json: string): unknown {
  return json === '' ? undefined : (JSON.parse(json) as unknown);
}

/** Options of `waitForEvent()`. */
export interface WaitOptions {
  /** Milliseconds to wait at most: then it resolves `undefined`. Default: as long as the task is kept. */
  timeout?: number;
}

/** Checks `waitForEvent()`'s options; its timeout in ms, or `undefined` for none. */
export function checkWaitOptions(options: unknown): number | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`waitForEvent() options must be an object, got ${describe(options)}`);
  const { timeout, ...rest } = options as { timeout?: unknown };
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new InvalidArgumentError(`waitForEvent() options.${unknown[0]} is not an option; the option is timeout`);
  if (timeout === undefined) return undefined;
  if (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout)) {
    throw new InvalidArgumentError(`waitForEvent() options.timeout must be a number of milliseconds, 0 or more, got ${describe(timeout)}`);
  }
  return timeout;
}

/**
 * Calls `fn` at `until` (ms since the epoch), however far off: Node's timers take at most
 * about 24.8 days, so a longer wait is a chain of them. Returns a function that cancels it.
 * The timers are unref'd: a wait does not keep a process alive.
 */
export function at(until: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const delay = until - Date.now();
    if (delay <= 0) {
      timer = undefined;
      fn();
      return;
    }
    timer = setTimeout(arm, Math.min(delay, MAX_TIMER_DELAY));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}

/**
 * What a run asks of its task's durable state: `step`, `waitForEvent`, and their halves for a
 * run elsewhere (a thread runs a step's function itself, between `lookUp` and `keep`). Made by
 * the runner for each run, on first use.
 */
export interface DurableRun {
  /** `fn`'s result: kept from an earlier run, or `fn` run now and its result kept. */
  step<T>(name: string, fn: () => T | Promise<T>): Promise<Awaited<T>>;
  /** The next event named `name` (its value), or `undefined` once `timeout` ms pass. */
  waitForEvent(name: string, options?: WaitOptions): Promise<unknown>;
  /** A step's kept result as JSON, or `undefined` when it has none: then the caller runs it and `keep`s it. */
  lookUp(name: string): Promise<string | undefined>;
  /** Keeps a step's result (JSON) once the caller ran it. */
  keep(name: string, json: string): Promise<void>;
  /**
   * For a run elsewhere: the next event named `name` as JSON, `null` at its timeout, or `parked`
   * when the task waits and this run should end (it is run again when the event comes).
   */
  awaitEvent(name: string, timeout: number | undefined): Promise<string | null | typeof parked>;
}

/** What `DurableRun.awaitEvent()` gives a run that should end now: it is run again when its event comes. */
export const parked: unique symbol = Symbol('parked');

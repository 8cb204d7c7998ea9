import { at, type DurableLimits, type DurableRun } from './durable.js';
import { TaskDurableRun, type DurableHost } from './durable-run.js';
import { EffectQueue } from './effect-queue.js';
import { InvalidArgumentError, ShuttingDownError, TaskCanceledError, TaskTimeoutError } from './errors.js';
import type { RunSpan, TaskTrace, TaskTracer } from './observer.js';
import { describe } from './options.js';
import { checkProgress } from './progress.js';
import type { RetryConfiguration } from './options.js';
import { problemFromError, statusOf } from './problem.js';
import type { TaskStore } from './store.js';
import { TaskAbort } from './task-abort.js';
import type { Outcome, Reply } from './task.js';

/** What an executor is given to run one task. */
export interface ExecutionContext {
  readonly id: string;
  /** Aborts when the task is canceled, times out, or is cut off by `close()`; `reason` says which. Made on first use. */
  readonly signal: AbortSignal;
  /** True once the task was aborted; cheaper than asking `signal`. */
  readonly aborted: boolean;
  /** Settles like `promise`, or rejects with the abort reason as soon as the task aborts. */
  untilAborted<T>(promise: Promise<T>): Promise<T>;
  /** Calls `listener` once when the task aborts (at once if it has); returns a function that removes it. */
  onAbort(listener: () => void): () => void;
  /** Why the task aborted, once it has. */
  readonly reason: unknown;
  /**
   * Marks the task running and starts its timeout. Returns `false` when it was aborted
   * while it waited: the executor must not run it then.
   */
  start(): boolean;
  /** Reports progress: a fraction from 0 to 1, and an optional message. */
  progress(fraction: number, message?: string): void;
  /**
   * Queues an effect to run once the task has succeeded and its reply is stored, in the
   * order queued; dropped when the task fails, is canceled or times out.
   */
  afterCommit(effect: () => unknown): void;
  /**
   * The trace context of the task's run as propagation headers, when it is traced: for an
   * executor that runs the job elsewhere (a thread), to carry. (In this process the executor
   * already runs inside it.)
   */
  readonly trace: Readonly<Record<string, string>> | undefined;
  /**
   * Set when an error handler answers the task's failures (its route's `errorKey`): they keep
   * the error's record. An executor that runs the job elsewhere (a thread) brings back the
   * error's own properties then.
   */
  readonly errorKey?: number | undefined;
  /** The run's steps and waits (durable tasks), made on first use. */
  readonly durable: DurableRun;
  /**
   * Set by an executor whose runs hold a slot (the inline executor's `concurrency`): a waiting
   * run gives it back meanwhile, and takes one again before it goes on.
   */
  slot: { release(): void; acquire(): Promise<void> } | undefined;
}

/** Runs jobs of one kind (inline functions, handler modules on threads…). */
export interface Executor<J> {
  /**
   * Runs `job`, calling `context.start()` when the work begins. Resolves with the reply,
   * rejects with what went wrong. When the task aborts, the runner ends it at once; the
   * executor should then stop the work as best it can and settle.
   */
  execute(job: J, context: ExecutionContext): Promise<Reply>;
  /**
   * For an executor whose jobs queue effects after commit where they run (a thread): the
   * task's success was stored, so they run, or it was not, so they are dropped.
   */
  settleEffects?(id: string, committed: boolean): void;
  /** Releases the executor's resources once nothing runs on it. */
  close(): Promise<void>;
}

/** How a run ends that waits for an event elsewhere: its task runs again when the event comes, or at `until`. */
export interface Parked {
  readonly parked: true;
  readonly until: number | undefined;
  /** Milliseconds the task has run so far (its timeout counts them). */
  readonly spent: number;
}

/** What the runner's tasks need of it beyond the store: wakes, and the limits of durable tasks. */
interface RunnerHost {
  readonly store: TaskStore;
  readonly limits: DurableLimits;
  readonly waiters: Map<string, () => void>;
}

/** A task this runner runs: its abort state, and the context its executor gets. */
class RunningTask extends TaskAbort implements ExecutionContext, DurableHost {
  readonly id: string;
  readonly #host: RunnerHost;
  readonly #timeout: number | undefined;
  readonly #takeOver: boolean;
  readonly #resume: boolean;
  readonly #deferStart: number;
  readonly errorKey: number | undefined;
  readonly parkable: boolean;
  slot: { release(): void; acquire(): Promise<void> } | undefined = undefined;
  #timer: NodeJS.Timeout | undefined;
  #startTimer: NodeJS.Timeout | undefined;
  /** When the work began; whether the store has been told. */
  #startedAt: number | undefined;
  #startTold: Promise<void> | undefined;
  /** Milliseconds run before this run (its earlier runs'), and since when this run counts (not while it waits). */
  #spentBefore: number;
  #countingSince: number | undefined;
  #durable: TaskDurableRun | undefined;
  // A wait's wake: whether one came, and who waits for it.
  #woken = false;
  #wake: (() => void) | undefined;
  /** Its effects after commit, once it queued one. */
  effects: EffectQueue | undefined = undefined;
  /** After a failed attempt that is retried: the wait before the next, in ms. */
  retryIn: number | undefined = undefined;
  /** Set when the run ended where it waits (see `Parked`). */
  parked: Parked | undefined = undefined;
  /** Its span, when traced; how its attempt ended, and with what error. */
  span: RunSpan | undefined = undefined;
  outcome: 'succeeded' | 'failed' | 'canceled' | 'timed_out' | 'retried' | 'parked' = 'canceled';
  failure: unknown = undefined;

  get trace(): Readonly<Record<string, string>> | undefined {
    return this.span?.headers;
  }

  get store(): TaskStore {
    return this.#host.store;
  }

  get limits(): DurableLimits {
    return this.#host.limits;
  }

  get durable(): TaskDurableRun {
    return (this.#durable ??= new TaskDurableRun(this));
  }

  constructor(id: string, host: RunnerHost, options: RunOptions, deferStart: number) {
    super();
    this.id = id;
    this.#host = host;
    this.#timeout = options.timeout;
    this.#takeOver = options.takeOver === true;
    this.#resume = options.resume !== undefined;
    this.#spentBefore = options.resume?.spent ?? 0;
    this.#deferStart = deferStart;
    this.errorKey = options.errorKey;
    this.parkable = options.parkable === true;
  }

  start(): boolean {
    if (this.aborted) return false;
    this.#startedAt = Date.now();
    this.span?.started();
    // A resumed run's task runs already: the store has been told.
    if (this.#resume) this.#startTold = Promise.resolve();
    else if (this.#deferStart === 0) this.#tellStart();
    else {
      this.#startTimer = setTimeout(() => this.#tellStart(), this.#deferStart);
      this.#startTimer.unref();
    }
    this.#count();
    return true;
  }

  // The timeout counts from now, less what the task ran before.
  #count(): void {
    this.#countingSince = Date.now();
    const timeout = this.#timeout;
    if (timeout === undefined) return;
    const left = Math.max(0, timeout - this.#spentBefore);
    this.#timer = setTimeout(() => this.abort(new TaskTimeoutError(timeout)), left);
    this.#timer.unref();
  }

  #pause(): void {
    clearTimeout(this.#timer);
    if (this.#countingSince !== undefined) this.#spentBefore += Date.now() - this.#countingSince;
    this.#countingSince = undefined;
  }

  spent(): number {
    return this.#spentBefore + (this.#countingSince === undefined ? 0 : Date.now() - this.#countingSince);
  }

  // Tells the store the task runs, once; a task canceled meanwhile (or unknown) aborts.
  #tellStart(): Promise<void> {
    clearTimeout(this.#startTimer);
    if (this.#startTold !== undefined) return this.#startTold;
    if (this.#startedAt === undefined) return Promise.resolve();
    this.#startTold = this.#host.store.start(this.id, this.#startedAt, this.#takeOver).then(
      (started) => {
        if (!started) this.abort(new TaskCanceledError());
      },
      (error: unknown) => this.abort(error),
    );
    return this.#startTold;
  }

  /**
   * When the task started, if the store has not been told yet (it ends within its
   * `deferStart`): its end then says so, in one write. From now on it is not told apart.
   */
  untoldStart(): number | undefined {
    clearTimeout(this.#startTimer);
    if (this.#startTold !== undefined) return undefined;
    this.#startTold = Promise.resolve();
    return this.#startedAt;
  }

  progress(fraction: number, message?: string): void {
    checkProgress(fraction, message);
    if (this.aborted) return;
    void this.#tellStart();
    this.span?.progress(fraction, message);
    this.#host.store.progress(this.id, fraction, message).catch(() => {});
  }

  untilAborted<T>(promise: Promise<T>): Promise<T> {
    return this.race(promise);
  }

  afterCommit(effect: () => unknown): void {
    if (typeof effect !== 'function') throw new InvalidArgumentError(`afterCommit() takes a function, got ${describe(effect)}`);
    // Queued after the task ended (a late callback): it ran, or will not run, already.
    if (this.aborted) return;
    (this.effects ??= new EffectQueue()).add(effect);
  }

  async beginWait(event: string): Promise<void> {
    await this.race(this.#tellStart());
    this.span?.waiting?.(event);
    this.#pause();
    this.#woken = false;
    this.#host.waiters.set(this.id, () => {
      this.#woken = true;
      this.#wake?.();
    });
    this.slot?.release();
  }

  async waitHere(until: number | undefined): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return;
    }
    let cancel: (() => void) | undefined;
    let stopListening: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.#wake = resolve;
        if (until !== undefined) cancel = at(until, resolve);
        stopListening = this.onAbort(() => reject(this.reason));
      });
    } finally {
      this.#wake = undefined;
      this.#woken = false;
      cancel?.();
      stopListening?.();
    }
  }

  park(until: number | undefined): void {
    this.parked = { parked: true, until, spent: this.spent() };
  }

  async endWait(): Promise<void> {
    if (this.#host.waiters.get(this.id) !== undefined) this.#host.waiters.delete(this.id);
    if (this.slot !== undefined) await this.slot.acquire();
    // Parked: the run ends here; a live one counts its time again.
    if (this.parked === undefined && !this.aborted) this.#count();
  }

  stopTimer(): void {
    this.#pause();
  }
}

/** How `TaskRunner.run()` runs a job. */
export interface RunOptions {
  /** Milliseconds the task may run (over its runs, less the time it waits). */
  readonly timeout?: number | undefined;
  /** A task another runner had started and lost, or a next attempt: it is `running` already. */
  readonly takeOver?: boolean;
  /** The attempt it is, and its retry policy. */
  readonly retry?: RetryPlan | undefined;
  /** What its submit captured of its trace, when traced. */
  readonly trace?: TaskTrace | undefined;
  /** Its route's `errorKey`: its failure keeps the error's record. */
  readonly errorKey?: number | undefined;
  /** A run may end where it waits for an event (see `Parked`): its job can be run again. */
  readonly parkable?: boolean;
  /** A run after a wait: the task runs already, for `spent` ms so far. */
  readonly resume?: { readonly spent: number } | undefined;
}

/** How a run ended for its caller: a retry after `number` ms, parked, or done (`undefined`). */
export type RunEnd = number | Parked | undefined;

/** The attempt a run is, and its task's retry policy. */
export interface RetryPlan {
  /** From 1. */
  readonly attempt: number;
  readonly policy: RetryConfiguration;
}

/** A task between two attempts. */
interface Waiting {
  readonly id: string;
  readonly errorKey: number | undefined;
  timer: NodeJS.Timeout | undefined;
  stop: () => void;
}

/** Whether a failed attempt's error is retried: `retryOn` decides, else a 5xx that is not a timeout. Never a cancel or a shutdown. */
export function retryable(error: unknown, policy: RetryConfiguration): boolean {
  if (error instanceof TaskCanceledError || error instanceof ShuttingDownError) return false;
  if (policy.retryOn !== undefined) {
    try {
      return policy.retryOn(error) === true;
    } catch {
      return false;
    }
  }
  return statusOf(error) >= 500 && !(error instanceof TaskTimeoutError);
}

/** The wait after failed attempt `attempt` (from 1): fixed, or doubling; shortened at random by up to `jitter` of it. */
export function backoffDelay(policy: RetryConfiguration, attempt: number): number {
  const { type, delay, jitter } = policy.backoff;
  const base = type === 'fixed' ? delay : Math.min(delay * 2 ** (attempt - 1), 2 ** 31 - 1);
  return Math.round(base * (1 - jitter * Math.random()));
}

/** Options of a `TaskRunner`. */
export interface RunnerOptions {
  /**
   * Milliseconds a started task is kept `queued` in the store before it is marked
   * `running`; one that ends sooner is written once, at its end, with its start time. For
   * stores where each write is a round trip (Redis): a short task then costs one. Default 0.
   */
  readonly deferStart?: number;
  /** Traces each attempt of a task that carries a trace (see `TaskTrace`). Default: none. */
  readonly tracer?: TaskTracer;
  /** The limits of durable tasks' steps and events. Default: `defaultLimits`. */
  readonly limits?: DurableLimits;
}

/** The limits of durable tasks by default: 100 events a task, 256 KiB a step's result. */
export const defaultLimits: DurableLimits = { maxEvents: 100, maxStepBytes: 256 * 1024 };

/**
 * Drives tasks from `queued` to their end in this process: starts their timeouts,
 * aborts them when they are canceled (seen through the store, wherever the cancel came
 * from), and writes their outcome. Used by the memory backend and by worker processes.
 */
export class TaskRunner {
  readonly #store: TaskStore;
  readonly #onError: (error: unknown, taskId: string) => void;
  readonly #live = new Map<RunningTask, Promise<RunEnd>>();
  // The wake of each task that waits here for an event, by id.
  readonly #waiters = new Map<string, () => void>();
  readonly #host: RunnerHost;
  readonly #waiting = new Set<Waiting>();
  #draining = false;
  // Effects after commit running now: drain() gives them what is left of its time.
  readonly #effects = new Set<Promise<void>>();

  #runEffects(effects: EffectQueue, id: string): void {
    const running = effects.run((error) => this.#report(error, id)).finally(() => this.#effects.delete(running));
    this.#effects.add(running);
  }
  readonly #deferStart: number;
  readonly #tracer: TaskTracer | undefined;

  constructor(store: TaskStore, onError: (error: unknown, taskId: string) => void, options: RunnerOptions = {}) {
    this.#store = store;
    this.#onError = onError;
    this.#deferStart = options.deferStart ?? 0;
    this.#tracer = options.tracer;
    this.#host = { store, limits: options.limits ?? defaultLimits, waiters: this.#waiters };
  }

  /** Tasks that wait here for an event now. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * A task that waits here for an event got it (the store's `sendEvent` said `woke`): its run
   * goes on. Returns whether one waited here.
   */
  wake(id: string): boolean {
    const wake = this.#waiters.get(id);
    wake?.();
    return wake !== undefined;
  }

  /** Tasks this runner runs now (their attempts, between start and end). */
  get running(): number {
    return this.#live.size;
  }

  /**
   * Runs the job of a queued task to its end. Never rejects: every end is written to
   * the store. Resolves once the executor has settled too (after an abort, once it has
   * stopped the work), with how the run ended for the caller: a retry after so many ms, or
   * `Parked` (it runs again when its event comes). With `options.trace` (what its submit
   * captured) and a tracer, the attempt is a span, and the executor runs inside it.
   */
  run<J>(id: string, job: J, executor: Executor<J>, options: RunOptions = {}): Promise<RunEnd> {
    const task = new RunningTask(id, this.#host, options, this.#deferStart);
    if (options.trace !== undefined && this.#tracer !== undefined) task.span = this.#tracer.run(id, options.retry?.attempt ?? 1, options.trace);
    // #run leaves #live itself when it ends, which is after this: it awaits its executor first.
    const done = this.#run(task, job, executor, options.retry);
    this.#live.set(task, done);
    return done;
  }

  /**
   * Between two attempts of a task: calls `next` after `delay` ms, unless the task ended
   * meanwhile (a cancel, seen in the store) or `drain()` came first (it then fails as shut
   * down). Its timer is unref'd; nothing else is held. `errorKey`: as `run()`'s.
   */
  later(id: string, delay: number, next: () => void, errorKey?: number): void {
    if (this.#draining) {
      // close() has begun: there is no next attempt.
      const shutDown = new ShuttingDownError('The server shut down before the task\'s next attempt.');
      this.#store.finish(id, { status: 'failed', problem: problemFromError(shutDown, errorKey) }, Date.now()).catch(() => {});
      return;
    }
    const wait: Waiting = { id, errorKey, timer: undefined, stop: () => {} };
    const end = (): void => {
      clearTimeout(wait.timer);
      wait.stop();
      this.#waiting.delete(wait);
    };
    wait.stop = this.#store.watch(id, (task) => {
      if (task.status !== 'running') end();
    });
    wait.timer = setTimeout(() => {
      end();
      next();
    }, delay);
    wait.timer.unref();
    this.#waiting.add(wait);
  }

  /**
   * Lets live tasks finish for up to `timeout` ms, then aborts the rest with
   * `ShuttingDownError`, and resolves when every one has ended. Tasks waiting for their next
   * attempt end at once, as shut down.
   */
  async drain(timeout: number): Promise<void> {
    this.#draining = true;
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    const shutDown = new ShuttingDownError('The server shut down before the task\'s next attempt.');
    await Promise.all(
      waiting.map(async (wait) => {
        clearTimeout(wait.timer);
        wait.stop();
        await this.#store.finish(wait.id, { status: 'failed', problem: problemFromError(shutDown, wait.errorKey) }, Date.now()).catch(() => {});
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeout);
      timer.unref();
    });
    // Runs that wait for an outside event would wait out the whole timeout: they end now.
    for (const task of this.#live.keys()) if (this.#waiters.has(task.id)) task.abort(new ShuttingDownError('The server shut down while the task waited for an event.'));
    if (this.#live.size > 0) {
      await Promise.race([Promise.all(this.#live.values()), deadline]);
      const reason = new ShuttingDownError('The server shut down before the task finished.');
      for (const task of this.#live.keys()) task.abort(reason);
      await Promise.all(this.#live.values());
    }
    // Effects still running have until the deadline (an effect cannot be stopped).
    if (this.#effects.size > 0) await Promise.race([Promise.all(this.#effects), deadline]);
    clearTimeout(timer);
  }

  async #run<J>(task: RunningTask, job: J, executor: Executor<J>, retry: RetryPlan | undefined): Promise<RunEnd> {
    const { id } = task;
    const stopWatching = this.#store.watch(id, (changed) => {
      if (changed.status === 'canceled') task.abort(new TaskCanceledError());
    });
    // The task ends when it aborts, not when the executor gets round to stopping it. A
    // cancel has already ended it (in the store, wherever it came from).
    let ended: Promise<void> | undefined;
    const stopListening = task.onAbort(() => {
      task.stopTimer();
      if (!(task.reason instanceof TaskCanceledError)) ended = this.#failOrRetry(task, task.reason, retry);
    });
    try {
      const { span } = task;
      const reply = await (span === undefined ? executor.execute(job, task) : span.within(() => executor.execute(job, task)));
      if (task.parked !== undefined) throw new Error('The run ended where it waits.');
      // A 5xx answer is a failed attempt too, when there is another to come.
      const answeredFailure = reply.status >= 500 ? Object.assign(new Error(`The handler answered ${reply.status}.`), { status: reply.status }) : undefined;
      if (answeredFailure !== undefined && !task.aborted && retry !== undefined && retry.attempt < retry.policy.attempts && retryable(answeredFailure, retry.policy)) {
        executor.settleEffects?.(id, false);
        ended = this.#failOrRetry(task, answeredFailure, retry);
      } else if (task.aborted) executor.settleEffects?.(id, false);
      else {
        // Its effects run once its success is stored, and are dropped if it cannot be.
        ended = this.#finish(task, { status: 'succeeded', reply }).then((stored) => {
          if (stored) task.outcome = 'succeeded';
          executor.settleEffects?.(id, stored);
          if (stored && task.effects !== undefined) this.#runEffects(task.effects, id);
        });
      }
    } catch (error) {
      // A run that parked ends here, whatever its executor made of it: the task runs on later.
      if (task.parked !== undefined) {
        task.outcome = 'parked';
        executor.settleEffects?.(id, false);
      } else if (!task.aborted) ended = this.#failOrRetry(task, error, retry);
    } finally {
      task.stopTimer();
      stopListening();
      stopWatching();
      await ended;
      this.#live.delete(task);
      task.span?.end(task.outcome, task.failure);
    }
    return task.parked ?? task.retryIn;
  }

  // A failed attempt: retried when its plan says so (the task stays running, with the next
  // attempt's time; the caller runs it after `task.retryIn` ms), else the task fails.
  async #failOrRetry(task: RunningTask, error: unknown, retry: RetryPlan | undefined): Promise<void> {
    if (retry === undefined || retry.attempt >= retry.policy.attempts || !retryable(error, retry.policy)) return this.#fail(task, error);
    this.#report(error, task.id);
    task.effects?.discard();
    // Its start, if not yet told (a short attempt), is told by the retry: it ran.
    task.untoldStart();
    const delay = backoffDelay(retry.policy, retry.attempt);
    let recorded: boolean;
    try {
      recorded = await this.#store.retry(task.id, retry.attempt + 1, Date.now() + delay);
    } catch (failure) {
      // The retry could not be written: the task fails now, rather than stay running.
      this.#report(failure, task.id);
      return this.#fail(task, error);
    }
    if (recorded) {
      task.retryIn = delay;
      task.outcome = 'retried';
      task.failure = error;
    }
  }

  async #fail(task: RunningTask, error: unknown): Promise<void> {
    task.outcome = error instanceof TaskTimeoutError ? 'timed_out' : 'failed';
    task.failure = error;
    this.#report(error, task.id);
    task.effects?.discard();
    await this.#finish(task, { status: 'failed', problem: problemFromError(error, task.errorKey) });
  }

  /** Writes the task's end; resolves whether this write ended it (not: it had ended, or the store failed). */
  async #finish(task: RunningTask, outcome: Outcome): Promise<boolean> {
    const { id } = task;
    try {
      return (await this.#store.finish(id, outcome, Date.now(), task.untoldStart())) !== undefined;
    } catch (error) {
      // The store could not be written (a lost connection): the task stays live there,
      // and there is no one left to tell but the error hook.
      this.#report(error, id);
      return false;
    }
  }

  #report(error: unknown, id: string): void {
    try {
      this.#onError(error, id);
    } catch {
      // A throwing hook must not take the task's end with it.
    }
  }
}

import type { RouteMinute } from './activity.js';
import type { DurableLimits, DurableRecord, SentEvent, WaitOutcome, WaitRequest } from './durable.js';
import type { TaskCounts, TaskPage, TaskQuery } from './task-query.js';
import type { Outcome, Rerun, Task } from './task.js';

/** Called after a task changed: it started, reported progress, or finished. */
export type TaskListener = (task: Task) => void;

/**
 * Called after any task of a store changed, with the task as it is now: created, started,
 * progressed or finished; or with its id alone when it was removed (taken, deleted, or,
 * in a `MemoryStore`, expired: a Redis store does not hear of expiries).
 */
export type StoreListener = (change: { readonly id: string; readonly task: Task | undefined }) => void;

/** What a store needs to register a task. It starts `queued`. */
export interface NewTask {
  readonly id: string;
  readonly owner: string | undefined;
  readonly createdAt: number;
  /** The task's answer is read once: the read that gets it takes it (see `TaskStore.take`). */
  readonly readOnce?: boolean;
  /**
   * The submit's idempotency key (scoped by the caller: owner, route, key) and the
   * fingerprint of its request. A key the store holds already, with the same fingerprint,
   * makes `create` resolve with that key's task instead of adding one; with another
   * fingerprint it rejects with `IdempotencyKeyReusedError`. A key lives as long as its task.
   */
  readonly idempotency?: { readonly key: string; readonly fingerprint: string };
  /** With retries: how many attempts it may have (its `attempt` starts at 1). */
  readonly attempts?: number;
  /** What it was submitted as, and from where: see `Task`. */
  readonly route?: string;
  readonly method?: string;
  readonly url?: string;
  /** Kept with the task until it succeeds, so that it can be run again: see `Task.rerunnable`. */
  readonly rerun?: Rerun;
}

/**
 * Where tasks are kept, and the one place their state changes. `MemoryStore` is the
 * default; every store passes the same test suite (test/store-contract.ts).
 *
 * Transitions are compare-and-set: a task finishes once, so a late result of a canceled
 * task, or a cancel of a finished one, changes nothing.
 */
export interface TaskStore {
  /**
   * Adds a `queued` task. Rejects with `TaskLimitError` when the store is full; nothing is
   * added then. With an idempotency key it already holds, resolves with that key's task
   * (another id than the one given), or rejects with `IdempotencyKeyReusedError`: in one
   * step, so that of two submits of one key at once, one creates and the other finds.
   */
  create(task: NewTask): Promise<Task>;
  /**
   * Forgets a live task at once, as if it never was: for a task that could not be started.
   * With `finished`, a finished task instead, never a live one (the dashboard's delete).
   * Resolves whether it forgot one.
   */
  delete(id: string, finished?: boolean): Promise<boolean>;
  /**
   * Runs a failed or canceled task again under its id, in one step: it is `queued` again, its
   * end goes to `runs` (oldest first), `rewinds` counts one more, its attempts start again at 1,
   * and its steps, events and kept job stay. Resolves with the task, or `undefined` when it is
   * not failed or canceled (now), or, with `finishedBy`, ended after that time (ms since the
   * epoch: a bulk rewind takes only the tasks that had failed when it began). Its job is the
   * caller's to run.
   */
  rewind(id: string, finishedBy?: number): Promise<Task | undefined>;
  /** The task with this id, or `undefined` when there is none (never was, or expired). */
  get(id: string): Promise<Task | undefined>;
  /**
   * Moves a queued task to `running`. Resolves `false` when it is no longer queued (it
   * was canceled). With `takeOver`, a running task is started again: its job was handed
   * to a new worker because the one running it was lost.
   */
  start(id: string, at: number, takeOver?: boolean): Promise<boolean>;
  /**
   * Records that a live task's attempt failed and that attempt `attempt` starts at `at`: it
   * stays `running` meanwhile (a queued one becomes running: its first attempt ran). Resolves
   * `false` when it is no longer live (it was canceled). The next `start` (with `takeOver`)
   * clears `retryAt`.
   */
  retry(id: string, attempt: number, at: number): Promise<boolean>;
  /** Records the progress of a live task; ignored once it has finished. */
  progress(id: string, fraction: number, message: string | undefined): Promise<void>;
  /**
   * Ends a live task with `outcome` at time `at`; from then it expires after the store's ttl.
   * Resolves with the finished task, or `undefined` when it had already finished or is unknown.
   * `startedAt`, when given, is when the task started, for a task whose start the store was
   * not told of apart (it was short): a queued task may then succeed, and records it.
   */
  finish(id: string, outcome: Outcome, at: number, startedAt?: number): Promise<Task | undefined>;
  /**
   * Takes a finished task: removes it and resolves with it, in one step, so that of many
   * concurrent callers exactly one gets it, and the others `undefined`. A live task is
   * resolved as it is, and kept; an unknown one is `undefined`.
   */
  take(id: string): Promise<Task | undefined>;
  /** Calls `listener` after every change of the task until the returned function is called. */
  watch(id: string, listener: TaskListener): () => void;
  /** Calls `listener` after every change of every task until the returned function is called. */
  watchAll(listener: StoreListener): () => void;
  /**
   * The tasks matching `query`, newest first, a page at a time (see `TaskQuery`). A page costs
   * O(page + log n) through the store's indexes (by status, route, owner, id prefix and
   * word), never a walk of every task; a query no index narrows looks at `SCAN_BUDGET`
   * tasks at most per page. Rejects with `InvalidArgumentError` for a bad query.
   */
  list(query?: TaskQuery): Promise<TaskPage>;
  /**
   * Optional: gets `list()` ready ahead of its first call, for a store that builds its indexes
   * on first use (`MemoryStore`: an app without a dashboard pays for none). The dashboard calls
   * it when it is made. Resolves once they are built.
   */
  prepareList?(): Promise<void>;
  /** The job kept with a task to run it again (see `NewTask.rerun`; dropped when it succeeds), or `undefined`. */
  rerun(id: string): Promise<Rerun | undefined>;
  /** How many tasks of each status the store holds. */
  counts(): Promise<TaskCounts>;
  /**
   * Per route and minute, what happened since `since` (ms since the epoch): at most the last
   * `ACTIVITY_MINUTES`. A store with `prepareList` records it from the time that was called.
   */
  activity(since: number): Promise<RouteMinute[]>;
  /**
   * The steps and events kept with a task for its runs to replay (see `DurableRecord`), or
   * `undefined` when there is no such task. A task that kept none has an empty record.
   */
  durable(id: string): Promise<DurableRecord | undefined>;
  /**
   * Keeps the result of a live task's step (JSON; `''` for `undefined`); a step kept already keeps
   * its first result. Resolves `false` when the task is not live (it ended: the run stops).
   */
  keepStep(id: string, name: string, json: string): Promise<boolean>;
  /**
   * A run of a live task waits for the `index`-th event named `event`, in one step: if it came,
   * its JSON (`null` in the record: that wait timed out before, `timeout`); else, if `until` has
   * passed by `now`, the wait times out now (its place in the record is taken by `null`, so that
   * the next event of the name goes to the next wait); else the task is marked waiting for it
   * (`waitingFor`, with the `until` it was first marked with: a run that waits again keeps its
   * deadline), and the run's `spent` time is kept. `ended` for a task that is not live.
   */
  wait(id: string, request: WaitRequest): Promise<WaitOutcome>;
  /**
   * Keeps an event (JSON) sent to a live task, in the order events of its name came; one its
   * waiting run waits for ends the wait (`woke`: its runner must resume it). With `key`, an
   * event whose key was delivered already is not kept again (`kept: false`). Rejects with
   * `TaskNotFoundError`, `TaskFinishedError` when the task ended, or `EventLimitError` past
   * `limits.maxEvents` events.
   */
  sendEvent(id: string, name: string, json: string, limits: Pick<DurableLimits, 'maxEvents'>, key?: string): Promise<SentEvent>;
  /** Stops the store's timers and connections. Tasks already held stay readable where the store allows. */
  close(): Promise<void>;
}

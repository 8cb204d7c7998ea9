// What an operator may do with every task, whoever owns it: list and search them, read one,
// cancel or delete it, run a worker task again, and follow the changes and the numbers. The
// dashboard serves it over HTTP; it knows nothing of HTTP.
import { ACTIVITY_MINUTES, MINUTE, addHistogram, percentiles, type RouteMinute } from './activity.js';
import type { Backend } from './backend.js';
import type { DurableLimits } from './durable.js';
import { InvalidQueryError, NotRerunnableError, TaskFinishedError, TaskNotFoundError } from './errors.js';
import { problemFromError } from './problem.js';
import type { TaskRegistry } from './registry.js';
import { checkQuery, matches, type TaskCounts, type TaskPage, type TaskQuery } from './task-query.js';
import { isFinished, type Task } from './task.js';

/** The windows the numbers of a route are summed over, in minutes. */
export const WINDOWS = [1, 5, 15] as const;

/** A route's numbers over a window. */
export interface WindowStats {
  submitted: number;
  succeeded: number;
  failed: number;
  canceled: number;
  /** Run times (start to end) and queue waits (submit to start), in ms, read from histograms. */
  run: { p50: number; p95: number; p99: number } | null;
  queue: { p50: number; p95: number; p99: number } | null;
}

/** A route's numbers: per window, and per minute over the last quarter hour, oldest first. */
export interface RouteStats {
  route: string;
  windows: Record<'1m' | '5m' | '15m', WindowStats>;
  series: { at: number; submitted: number; succeeded: number; failed: number; canceled: number; runP95: number | null }[];
}

/** What a backend tells of where its tasks run (see `Backend.stats`). */
export interface BackendStats {
  /** The worker-thread pool of this process. */
  threads?: { threads: number; utilization: number; queued: number };
  /** The worker processes the queue knows of (BullMQ's `Queue.getWorkers()`). */
  workers?: { name?: string; addr?: string; age?: number; idle?: number }[];
}

export interface Stats extends BackendStats {
  counts: TaskCounts;
  routes: RouteStats[];
}

/** A bulk action's filter: a list's query (its cursor and limit aside), and `all` to act on every task without one. */
export type BulkQuery = Omit<TaskQuery, 'cursor' | 'limit'> & { readonly all?: boolean };

/** What a bulk action did: the tasks its filter matched, those it acted on, those it skipped. */
export interface BulkResult {
  readonly matched: number;
  readonly done: number;
  readonly skipped: number;
}

/** Tasks a bulk action reads and acts on at a time. */
const BULK_PAGE = 500;

/** The changes of the tasks a query matches, as `TaskAdmin.follow()` gives them. */
export interface Changes {
  /** Tasks that changed and match the query, as they are now. */
  readonly tasks: readonly Task[];
  /** Tasks that changed and match it no more, or were removed. */
  readonly removed: readonly string[];
  /** Changes left out of a batch beyond `FOLLOW_BATCH` tasks (the oldest tasks'), if any. */
  readonly skipped?: number;
}

/** At most this many batches of changes a second per follower. */
const FLUSH_INTERVAL = 100;
/**
 * At most this many tasks per batch: the newest that changed (a page shows the newest; at
 * thousands of tasks a second, every change of every one would be megabytes a second).
 */
export const FOLLOW_BATCH = 200;
/** The tasks a follower has as matching when it begins: the query's first this many (what a page shows). */
export const FOLLOW_SEED = 500;
/** The ids a follower remembers as matching at most (the newest it sent). */
const FOLLOW_SHOWN = 10_000;

export class TaskAdmin {
  readonly #registry: TaskRegistry;
  readonly #backend: Backend;

  constructor(registry: TaskRegistry, backend: Backend) {
    this.#registry = registry;
    this.#backend = backend;
  }

  /** A dashboard is made: the store gets its lists ready now (see `TaskStore.prepareList`). */
  prepare(): void {
    this.#backend.store.prepareList?.().catch(() => {});
  }

  list(query?: TaskQuery): Promise<TaskPage> {
    return this.#backend.store.list(query);
  }

  counts(): Promise<TaskCounts> {
    return this.#backend.store.counts();
  }

  /** The task, whoever owns it; rejects with `TaskNotFoundError`. */
  async get(id: string): Promise<Task> {
    const task = await this.#backend.store.get(id);
    if (task === undefined) throw new TaskNotFoundError(id);
    return task;
  }

  /** Cancels a live task, deletes a finished one; says which. */
  async remove(id: string): Promise<{ task: Task; action: 'canceled' | 'deleted' }> {
    const task = await this.get(id);
    if (!isFinished(task.status)) {
      try {
        return { task: await this.#registry.cancel(id, task.owner), action: 'canceled' };
      } catch (error) {
        // It finished meanwhile: delete it as it is now.
        if (!(error instanceof TaskFinishedError)) throw error;
      }
    }
    const finished = await this.get(id);
    await this.#backend.store.delete(id, true);
    return { task: finished, action: 'deleted' };
  }

  /**
   * Submits a new task that runs a task's job again, for the same owner and route. Rejects
   * with `NotRerunnableError` for a task whose job is not kept: an inline handler's (its
   * closure lived in the process that ran it), one larger than `maxRerunBytes`, or one that
   * succeeded.
   */
  async rerun(id: string): Promise<Task> {
    const task = await this.get(id);
    const rerun = task.rerunnable === true ? await this.#backend.store.rerun(id) : undefined;
    if (rerun === undefined) {
      throw new NotRerunnableError(
        id,
        "This task cannot be run again: its job is not kept. An inline handler's job is a closure over its request, which is gone; a worker route's or a module task's is kept until the task succeeds, when the request's body (or the input) is within maxRerunBytes.",
      );
    }
    const { route } = rerun;
    const { task: created } = await this.#registry.submit(task.owner, (newId) => this.#backend.runModule(newId, rerun.job, route), {
      readOnce: route.readOnce,
      ...(route.retries === undefined ? {} : { attempts: route.retries.attempts }),
      ...(task.route === undefined ? {} : { route: task.route }),
      ...(task.method === undefined ? {} : { method: task.method }),
      ...(task.url === undefined ? {} : { url: task.url }),
      rerun,
    });
    return created;
  }

  /**
   * Runs a failed, timed-out or canceled task again under its id: a client polling its monitor
   * sees it `queued`, then `running`, then its new answer; its steps return their kept results,
   * so in effect it resumes at the step that failed. Rejects with `NotRerunnableError` for a task
   * whose job is not kept (an inline handler's, a `define(name, fn)`'s, a large one), one that
   * succeeded or is live.
   */
  async rewind(id: string, finishedBy?: number): Promise<Task> {
    const task = await this.get(id);
    if (task.status !== 'failed' && task.status !== 'canceled') {
      throw new NotRerunnableError(id, `This task ${task.status === 'succeeded' ? 'succeeded' : `is ${task.status}`}: only a failed, timed-out or canceled task can be rewound.`);
    }
    const store = this.#backend.store;
    const rerun = task.rerunnable === true ? await store.rerun(id) : undefined;
    if (rerun === undefined) {
      throw new NotRerunnableError(
        id,
        "This task cannot be rewound: its job is not kept. An inline handler's job (or a define(name, fn)'s) is a closure over what submitted it, which is gone; a worker route's or a module task's is kept when the request's body (or the input) is within maxRerunBytes.",
      );
    }
    const rewound = await store.rewind(id, finishedBy);
    if (rewound === undefined) throw new NotRerunnableError(id, 'This task changed meanwhile: it is no longer failed or canceled (or ended again).');
    try {
      await this.#backend.runModule(id, rerun.job, rerun.route, undefined, { rewinds: rewound.rewinds });
    } catch (error) {
      // Its job could not be queued: it fails again, as it would have, rather than wait for nothing.
      await store.finish(id, { status: 'failed', problem: problemFromError(error) }, Date.now()).catch(() => {});
      throw error;
    }
    return rewound;
  }

  /** Sends an event (its JSON) to a task, whoever owns it (see `TaskRegistry.sendEvent`). */
  async sendEvent(id: string, name: string, json: string, limits: Pick<DurableLimits, 'maxEvents'>): Promise<Task> {
    const task = await this.get(id);
    return this.#registry.sendEvent(id, task.owner, name, json, limits);
  }

  /** Cancels the live tasks that `query` matches (see `bulk`). */
  cancelMany(query: BulkQuery): Promise<BulkResult> {
    return this.#bulk(query, async (task) => {
      if (isFinished(task.status)) return false;
      try {
        await this.#registry.cancel(task.id, task.owner);
        return true;
      } catch (error) {
        if (error instanceof TaskFinishedError || error instanceof TaskNotFoundError) return false;
        throw error;
      }
    });
  }

  /** Rewinds the failed and canceled tasks that `query` matches whose job was kept (see `bulk`). */
  rewindMany(query: BulkQuery): Promise<BulkResult> {
    // The tasks that had failed when it began: one that a bulk rewind beside it ran again, and
    // that failed again since, is not run a third time.
    const began = Date.now();
    return this.#bulk(query, async (task) => {
      if ((task.status !== 'failed' && task.status !== 'canceled') || task.rerunnable !== true) return false;
      try {
        await this.rewind(task.id, began);
        return true;
      } catch (error) {
        if (error instanceof NotRerunnableError || error instanceof TaskNotFoundError) return false;
        throw error;
      }
    });
  }

  /** Deletes the finished tasks that `query` matches (see `bulk`). */
  deleteMany(query: BulkQuery): Promise<BulkResult> {
    return this.#bulk(query, async (task) => isFinished(task.status) && (await this.#backend.store.delete(task.id, true)));
  }

  /** How many tasks `query` matches now (its cursor and limit aside). */
  async count(query: TaskQuery): Promise<number> {
    let count = 0;
    await this.#walk(query, (page) => {
      count += page.length;
    });
    return count;
  }

  /**
   * Acts on every task `query` matches, a page at a time (500), yielding to the event loop
   * between pages, so that other requests are served meanwhile: `act` says whether it did. Each
   * action is a compare-and-set in the store (a cancel, a rewind, a delete), so a second bulk
   * action on the same tasks at the same time does nothing twice. An empty filter is refused
   * unless `all` says so.
   */
  async #bulk(query: BulkQuery, act: (task: Task) => Promise<boolean>): Promise<BulkResult> {
    const { all, ...filters } = query;
    const checked = checkQuery({ ...filters, limit: undefined, cursor: undefined });
    const filtered = checked.status !== undefined || checked.route !== undefined || checked.owner !== undefined || checked.id !== undefined || checked.words.length > 0 || checked.from !== -Infinity || checked.to !== Infinity || checked.waiting !== undefined;
    if (!filtered && all !== true) throw new InvalidQueryError('A bulk action takes a filter (status, route, owner, id, text, from, to, waiting), or all=true to act on every task.');
    let matched = 0;
    let done = 0;
    await this.#walk(filters, async (page) => {
      matched += page.length;
      for (const did of await Promise.all(page.map(act))) if (did) done++;
    });
    return { matched, done, skipped: matched - done };
  }

  // Every page of `query`, newest first, a turn of the event loop apart.
  async #walk(query: TaskQuery, visit: (tasks: readonly Task[]) => void | Promise<void>): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await this.#backend.store.list({ ...query, limit: BULK_PAGE, ...(cursor === undefined ? {} : { cursor }) });
      await visit(page.tasks);
      cursor = page.next;
      if (cursor !== undefined) await new Promise((resolve) => setImmediate(resolve));
    } while (cursor !== undefined);
  }

  /** Counts per status, numbers per route, and the backend's. */
  async stats(now = Date.now()): Promise<Stats> {
    const [counts, records, backend] = await Promise.all([
      this.#backend.store.counts(),
      this.#backend.store.activity(now - ACTIVITY_MINUTES * MINUTE),
      this.#backend.stats?.() ?? Promise.resolve({}),
    ]);
    return { counts, routes: routeStats(records, now), ...backend };
  }

  /**
   * Calls `listener` with the changes of the tasks matching `query` (its cursor and limit
   * aside), at most ten times a second and `FOLLOW_BATCH` tasks a time, the newest, until the
   * returned function is called. A task that changed and does not match is told as `removed`
   * only when this follower had it as matching: the tasks it sent, and those the query's first
   * `FOLLOW_SEED` matched when it began (the page a follower shows). Of other tasks it says
   * nothing: a batch of their changes alone is empty (the counts may have changed).
   */
  follow(query: TaskQuery, listener: (changes: Changes) => void): () => void {
    const checked = checkQuery({ ...query, limit: undefined, cursor: undefined });
    // The ids the follower has as matching, oldest first; bounded, the oldest forgotten.
    const shown = new Set<string>();
    const show = (id: string): void => {
      shown.delete(id);
      shown.add(id);
      if (shown.size > FOLLOW_SHOWN) shown.delete(shown.values().next().value as string);
    };
    let pending = new Map<string, Task | undefined>();
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    // The changes wait for the seed: a change before it is known could not be told apart.
    const seeded = this.#backend.store.list({ ...query, limit: FOLLOW_SEED, cursor: undefined }).then(
      (page) => {
        for (let i = page.tasks.length - 1; i >= 0; i--) show(page.tasks[i]!.id);
      },
      () => {},
    );
    const flush = (): void => {
      timer = undefined;
      if (stopped) return;
      const batch = pending;
      pending = new Map();
      const tasks: Task[] = [];
      const removed: string[] = [];
      for (const [id, task] of batch) {
        if (task !== undefined && matches(task, checked)) tasks.push(task);
        else if (shown.delete(id)) removed.push(id);
      }
      let skipped = 0;
      if (tasks.length > FOLLOW_BATCH) {
        tasks.sort((a, b) => b.createdAt - a.createdAt);
        skipped += tasks.length - FOLLOW_BATCH;
        tasks.length = FOLLOW_BATCH;
      }
      if (removed.length > FOLLOW_BATCH) {
        skipped += removed.length - FOLLOW_BATCH;
        removed.length = FOLLOW_BATCH;
      }
      for (let i = tasks.length - 1; i >= 0; i--) show(tasks[i]!.id);
      // (An empty batch too: the counts of every task may have changed.)
      listener(skipped === 0 ? { tasks, removed } : { tasks, removed, skipped });
    };
    const stop = this.#backend.store.watchAll(({ id, task }) => {
      pending.set(id, task);
      if (timer === undefined) {
        timer = setTimeout(() => void seeded.then(flush), FLUSH_INTERVAL);
        timer.unref();
      }
    });
    return () => {
      stopped = true;
      stop();
      clearTimeout(timer);
    };
  }
}

// The numbers per route over each window, from the minutes' records.
function routeStats(records: readonly RouteMinute[], now: number): RouteStats[] {
  const current = now - (now % MINUTE);
  const byRoute = new Map<string, RouteMinute[]>();
  for (const record of records) {
    let list = byRoute.get(record.route);
    if (list === undefined) byRoute.set(record.route, (list = []));
    list.push(record);
  }
  const stats: RouteStats[] = [];
  for (const [route, minutes] of byRoute) {
    const windows = {} as RouteStats['windows'];
    for (const window of WINDOWS) {
      // The current minute and the ones before it, `window` in all.
      const first = current - (window - 1) * MINUTE;
      const total: WindowStats = { submitted: 0, succeeded: 0, failed: 0, canceled: 0, run: null, queue: null };
      const run: Record<number, number> = {};
      const queue: Record<number, number> = {};
      for (const minute of minutes) {
        if (minute.minute < first) continue;
        total.submitted += minute.submitted;
        total.succeeded += minute.succeeded;
        total.failed += minute.failed;
        total.canceled += minute.canceled;
        addHistogram(run, minute.run);
        addHistogram(queue, minute.queue);
      }
      total.run = percentiles(run);
      total.queue = percentiles(queue);
      windows[`${window}m`] = total;
    }
    const series: RouteStats['series'] = [];
    for (let i = ACTIVITY_MINUTES - 1; i >= 0; i--) {
      const at = current - i * MINUTE;
      const point = { at, submitted: 0, succeeded: 0, failed: 0, canceled: 0, runP95: null as number | null };
      const run: Record<number, number> = {};
      for (const minute of minutes) {
        if (minute.minute !== at) continue;
        point.submitted += minute.submitted;
        point.succeeded += minute.succeeded;
        point.failed += minute.failed;
        point.canceled += minute.canceled;
        addHistogram(run, minute.run);
      }
      point.runP95 = percentiles(run)?.p95 ?? null;
      series.push(point);
    }
    stats.push({ route, windows, series });
  }
  return stats.sort((a, b) => (a.route < b.route ? -1 : a.route > b.route ? 1 : 0));
}

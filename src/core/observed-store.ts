import type { TaskMetrics } from './observer.js';
import type { TaskStore } from './store.js';
import type { Outcome, Task } from './task.js';

/** A store whose writes are told to metrics, and the live tasks it saw go through them. */
export interface ObservedStore {
  readonly store: TaskStore;
  /** Tasks created through this store and not yet started or ended through it. */
  readonly queued: () => number;
  /** Tasks started through this store and not yet ended through it. */
  readonly running: () => number;
}

/**
 * Every task ends by one `finish` that resolves with it, wherever the end came from (a run, a
 * cancel, a shutdown, a queue timeout): the store is where its end is counted, once, by the
 * process whose write ended it. The store given is wrapped, not changed: the wrapper passes
 * every other member through, so a store's own methods (and ones added later) work as before.
 * Without metrics it is the store itself.
 */
export function observeStore(store: TaskStore, metrics: TaskMetrics | undefined): ObservedStore {
  let queued = 0;
  let running = 0;
  const counts = { queued: () => queued, running: () => running };
  if (metrics === undefined) return { store, ...counts };
  const own: Partial<TaskStore> = {
    async create(task) {
      const created = await store.create(task);
      if (created.id === task.id) queued++;
      return created;
    },
    async delete(id, finished) {
      const deleted = await store.delete(id, finished);
      // A live task is deleted only when it could not be started: it was queued. (The
      // dashboard deletes finished ones, `finished`: they were counted at their end.)
      if (deleted && finished !== true) queued = Math.max(0, queued - 1);
      return deleted;
    },
    async rewind(id, finishedBy) {
      const rewound = await store.rewind(id, finishedBy);
      // Queued again: its next end is counted as its first was.
      if (rewound !== undefined) queued++;
      return rewound;
    },
    async start(id, at, takeOver) {
      const started = await store.start(id, at, takeOver);
      if (started && takeOver !== true) {
        queued = Math.max(0, queued - 1);
        running++;
      }
      return started;
    },
    async finish(id: string, outcome: Outcome, at: number, startedAt?: number): Promise<Task | undefined> {
      const finished = await store.finish(id, outcome, at, startedAt);
      if (finished !== undefined) {
        // It ran when its start was told apart (its end then says nothing of it).
        if (startedAt === undefined && finished.startedAt !== undefined) running = Math.max(0, running - 1);
        else queued = Math.max(0, queued - 1);
        metrics.finished(finished);
      }
      return finished;
    },
  };
  const bound = new Map<PropertyKey, unknown>();
  const observed = new Proxy(store, {
    get(target, key) {
      if (Object.hasOwn(own, key)) return own[key as keyof TaskStore];
      const value = Reflect.get(target, key, target) as unknown;
      if (typeof value !== 'function') return value;
      let method = bound.get(key);
      if (method === undefined) {
        method = (value as (...args: unknown[]) => unknown).bind(target);
        bound.set(key, method);
      }
      return method;
    },
  });
  return { store: observed, ...counts };
}

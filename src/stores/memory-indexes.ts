import { SCAN_BUDGET, encodeCursor, matches, startOf, taskStatuses, type CheckedQuery, type Position, type TaskPage } from '../core/task-query.js';
import type { Task, TaskStatus } from '../core/task.js';
import { OrderedIndex, type Indexed } from './ordered-index.js';

/** What the indexes need of a task. */
export interface IndexedTask extends Task, Indexed {}

// A Map of indexes by key, where a key most tasks do not share (a word of one URL) holds the
// task itself until a second comes: an index costs a few hundred bytes, a task's place in one
// four.
class IndexMap<T extends IndexedTask> {
  readonly #entries = new Map<string, T | OrderedIndex<T>>();

  add(key: string, task: T): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) this.#entries.set(key, task);
    else if (entry instanceof OrderedIndex) entry.insert(task);
    else if (entry !== task) {
      const index = new OrderedIndex<T>();
      index.insert(entry);
      index.insert(task);
      this.#entries.set(key, index);
    }
  }

  remove(key: string, task: T): void {
    const entry = this.#entries.get(key);
    if (entry === task) this.#entries.delete(key);
    else if (entry instanceof OrderedIndex) {
      entry.remove(task);
      if (entry.size === 0) this.#entries.delete(key);
    }
  }

  /** How many places tasks hold under all keys. */
  get places(): number {
    let places = 0;
    for (const entry of this.#entries.values()) places += entry instanceof OrderedIndex ? entry.size : 1;
    return places;
  }

  /** The tasks under `key`, as an index (or the one task), and how many. */
  get(key: string): { readonly size: number; newest(start: Position | undefined): Iterable<T> } {
    const entry = this.#entries.get(key);
    if (entry === undefined) return empty;
    if (entry instanceof OrderedIndex) return entry;
    return { size: 1, newest: (start) => (start === undefined || entry.createdAt < start.at || (entry.createdAt === start.at && entry.id < start.id) ? [entry] : []) };
  }
}

const empty = { size: 0, newest: () => [] };

type Source<T> = { readonly size: number; newest(start: Position | undefined): Iterable<T> };

/**
 * The indexes of a `MemoryStore`: tasks in creation order by status, route, owner,
 * the first three characters of their id, and each of their words. A list walks the
 * smallest index that applies, newest first, and checks the rest of the query on each task.
 */
export class MemoryIndexes<T extends IndexedTask> {
  // Every task is in one status index: all of them walked as one are every task (an index of
  // every task besides would cost each task another place).
  readonly #status = new Map<TaskStatus, OrderedIndex<T>>(taskStatuses.map((status) => [status, new OrderedIndex<T>()]));
  readonly #all = merged([...this.#status.values()]);
  readonly #route = new IndexMap<T>();
  readonly #owner = new IndexMap<T>();
  // By the first three characters of the id: a uuid's are random, so a bucket holds one task
  // in 4,096, and a longer prefix is looked for in its bucket (of a million tasks, 244). A
  // shorter prefix is looked for among all. (Buckets of four characters would be 65,536 small
  // indexes, a hundred bytes a task more.)
  readonly #id3 = new IndexMap<T>();
  readonly #word = new IndexMap<T>();

  /** Adds a new task, found by `words`. */
  add(task: T, words: readonly string[]): void {
    this.#status.get(task.status)!.insert(task);
    if (task.route !== undefined) this.#route.add(task.route, task);
    if (task.owner !== undefined) this.#owner.add(task.owner, task);
    const { id } = task;
    if (id.length >= 3) this.#id3.add(id.slice(0, 3).toLowerCase(), task);
    for (const word of words) this.#word.add(word, task);
  }

  /** Finds a task by words it has now as well (a new message). */
  addWords(task: T, words: readonly string[]): void {
    for (const word of words) this.#word.add(word, task);
  }

  /** A task's status changed from `from`. */
  moved(task: T, from: TaskStatus): void {
    if (from === task.status) return;
    this.#status.get(from)!.remove(task);
    this.#status.get(task.status)!.insert(task);
  }

  /** Removes a task, and it from every word it was added under. */
  remove(task: T, words: readonly string[]): void {
    this.#status.get(task.status)!.remove(task);
    if (task.route !== undefined) this.#route.remove(task.route, task);
    if (task.owner !== undefined) this.#owner.remove(task.owner, task);
    const { id } = task;
    if (id.length >= 3) this.#id3.remove(id.slice(0, 3).toLowerCase(), task);
    for (const word of words) this.#word.remove(word, task);
  }

  /** How many places tasks hold in the indexes, over all of them. */
  get places(): number {
    let places = 0;
    for (const index of this.#status.values()) places += index.size;
    return places + this.#route.places + this.#owner.places + this.#id3.places + this.#word.places;
  }

  list(query: CheckedQuery): TaskPage {
    const start = startOf(query);
    const tasks: Task[] = [];
    let scanned = 0;
    let last: T | undefined;
    for (const task of this.#candidates(query, start)) {
      if (task.createdAt < query.from) return { tasks, next: undefined };
      if (scanned === SCAN_BUDGET) return { tasks, next: encodeCursor({ at: last!.createdAt, id: last!.id }) };
      scanned++;
      last = task;
      if (!matches(task, query)) continue;
      tasks.push(task);
      if (tasks.length === query.limit) return { tasks, next: encodeCursor({ at: task.createdAt, id: task.id }) };
    }
    return { tasks, next: undefined };
  }

  // The tasks of the smallest index that applies to the query, newest first from `start`.
  #candidates(query: CheckedQuery, start: Position | undefined): Iterable<T> {
    const sources: Source<T>[] = [this.#all];
    if (query.status !== undefined) {
      const indexes = [...query.status].map((status) => this.#status.get(status)!);
      sources.push(indexes.length === 1 ? indexes[0]! : merged(indexes));
    }
    // A waiting task is a running one.
    if (query.waiting === true) sources.push(this.#status.get('running')!);
    if (query.route !== undefined) sources.push(this.#route.get(query.route));
    if (query.owner !== undefined) sources.push(this.#owner.get(query.owner));
    const prefix = query.id;
    if (prefix !== undefined && prefix.length >= 3) sources.push(this.#id3.get(prefix.slice(0, 3)));
    for (const word of query.words) sources.push(this.#word.get(word));
    let smallest = sources[0]!;
    for (const source of sources) if (source.size < smallest.size) smallest = source;
    return smallest.newest(start);
  }
}

// Several indexes walked as one, newest first.
function merged<T extends IndexedTask>(indexes: readonly OrderedIndex<T>[]): Source<T> {
  return {
    get size() {
      return indexes.reduce((total, index) => total + index.size, 0);
    },
    *newest(start) {
      const walks = indexes.map((index) => index.newest(start));
      const heads = walks.map((walk) => walk.next());
      for (;;) {
        let best = -1;
        for (let i = 0; i < heads.length; i++) {
          const head = heads[i]!;
          if (head.done === true) continue;
          const current = best < 0 ? undefined : (heads[best]!.value as T);
          const task = head.value;
          if (current === undefined || task.createdAt > current.createdAt || (task.createdAt === current.createdAt && task.id > current.id)) best = i;
        }
        if (best < 0) return;
        yield heads[best]!.value as T;
        heads[best] = walks[best]!.next();
      }
    },
  };
}

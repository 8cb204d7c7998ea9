// Lists of tasks, for the dashboard: the query a store answers, its pages and cursors, and
// the words its text search finds. Both stores read these, so they answer alike.
import { InvalidQueryError } from './errors.js';
import { describe } from './options.js';
import type { Task, TaskStatus } from './task.js';

/** The statuses, in the order the dashboard counts them. */
export const taskStatuses: readonly TaskStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

/** What `TaskStore.list()` finds: tasks matching every field given, newest first. */
export interface TaskQuery {
  /** One or more statuses. */
  readonly status?: readonly TaskStatus[];
  /** The route exactly, as `Task.route` has it. */
  readonly route?: string;
  /** The owner exactly. */
  readonly owner?: string;
  /** A prefix of the id. */
  readonly id?: string;
  /** Words, each of which the task's URL, message or (for a task from code) route holds as a whole word. */
  readonly text?: string;
  /** Created at or after (ms since the epoch). */
  readonly from?: number;
  /** Created before (ms since the epoch). */
  readonly to?: number;
  /** `true`: only running tasks that wait for an outside event; `false`: only others. */
  readonly waiting?: boolean;
  /** Tasks per page, 1 to 500. Default 50. */
  readonly limit?: number;
  /** Where the page starts: a previous page's `next`. */
  readonly cursor?: string;
}

/**
 * A page of tasks and the cursor of the next one (`undefined` after the last). A page may
 * hold fewer than `limit` tasks and still have a `next`: a store bounds the work of one
 * call (see `SCAN_BUDGET`), and the rest is found by following `next`.
 */
export interface TaskPage {
  readonly tasks: readonly Task[];
  readonly next: string | undefined;
}

/** How many tasks of each status a store holds. */
export type TaskCounts = Record<TaskStatus, number>;

export const MAX_PAGE = 500;
export const DEFAULT_PAGE = 50;
/** Candidates a store looks at for one page at most before it answers with what it found. */
export const SCAN_BUDGET = 5_000;
/** Words of one field a store indexes at most, and the longest word it indexes. */
export const MAX_WORDS = 32;
export const MAX_WORD = 40;

/** A query with every field checked and the text split into words. */
export interface CheckedQuery {
  readonly status: ReadonlySet<TaskStatus> | undefined;
  readonly route: string | undefined;
  readonly owner: string | undefined;
  readonly id: string | undefined;
  readonly words: readonly string[];
  readonly from: number;
  readonly to: number;
  readonly waiting: boolean | undefined;
  readonly limit: number;
  /** Where to start: tasks strictly older than this position. */
  readonly after: Position | undefined;
}

/** A task's place in the newest-first order: its creation time, then its id (higher first). */
export interface Position {
  readonly at: number;
  readonly id: string;
}

const queryKeys = ['status', 'route', 'owner', 'id', 'text', 'from', 'to', 'waiting', 'limit', 'cursor'];

/** Checks a query; an `InvalidQueryError` names the field that is wrong. */
export function checkQuery(query: TaskQuery = {}): CheckedQuery {
  if (typeof query !== 'object' || query === null) throw new InvalidQueryError(`list() takes a query object, got ${describe(query)}`);
  for (const key of Object.keys(query)) {
    if (!queryKeys.includes(key)) throw new InvalidQueryError(`Unknown query field "${key}"; expected one of ${queryKeys.join(', ')}`);
  }
  const text = (name: string, value: unknown): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '' || value.length > 1_000) throw new InvalidQueryError(`query.${name} must be a non-empty string of at most 1000 characters, got ${describe(value)}`);
    return value;
  };
  const time = (name: string, value: unknown, otherwise: number): number => {
    if (value === undefined) return otherwise;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidQueryError(`query.${name} must be a time in milliseconds since the epoch, got ${describe(value)}`);
    return value;
  };
  let status: Set<TaskStatus> | undefined;
  if (query.status !== undefined) {
    if (!Array.isArray(query.status) || query.status.length === 0) throw new InvalidQueryError(`query.status must be a list of statuses, got ${describe(query.status)}`);
    for (const one of query.status) {
      if (!taskStatuses.includes(one)) throw new InvalidQueryError(`query.status: ${describe(one)} is not a status; expected ${taskStatuses.join(', ')}`);
    }
    status = new Set(query.status);
  }
  if (query.waiting !== undefined && typeof query.waiting !== 'boolean') throw new InvalidQueryError(`query.waiting must be true or false, got ${describe(query.waiting)}`);
  const limit = query.limit ?? DEFAULT_PAGE;
  if (!(Number.isInteger(limit) && limit >= 1 && limit <= MAX_PAGE)) throw new InvalidQueryError(`query.limit must be a whole number from 1 to ${MAX_PAGE}, got ${describe(limit)}`);
  const id = text('id', query.id);
  const words = text('text', query.text) === undefined ? [] : wordsOf(query.text!);
  if (query.text !== undefined && words.length === 0) throw new InvalidQueryError(`query.text has no word to search for (words are letters and digits, two or more), got ${describe(query.text)}`);
  return {
    status,
    route: text('route', query.route),
    owner: text('owner', query.owner),
    id: id?.toLowerCase(),
    words,
    from: time('from', query.from, -Infinity),
    to: time('to', query.to, Infinity),
    waiting: query.waiting,
    limit,
    after: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
  };
}

/** The opaque cursor of a page that ends at `position`. */
export function encodeCursor(position: Position): string {
  return Buffer.from(`${position.at}:${position.id}`).toString('base64url');
}

function decodeCursor(cursor: unknown): Position {
  if (typeof cursor === 'string' && /^[\w-]{1,200}$/.test(cursor)) {
    const decoded = Buffer.from(cursor, 'base64url').toString();
    const colon = decoded.indexOf(':');
    const at = Number(decoded.slice(0, colon));
    if (colon > 0 && Number.isFinite(at)) return { at, id: decoded.slice(colon + 1) };
  }
  throw new InvalidQueryError(`query.cursor is not a cursor of this list, got ${describe(cursor)}`);
}

/** True when the task at `at`/`id` comes after `position` in the newest-first order. */
export function isAfter(at: number, id: string, position: Position): boolean {
  return at < position.at || (at === position.at && id < position.id);
}

/**
 * The words of a text as the stores index and search them: runs of ASCII letters and digits
 * and of any character beyond ASCII, two characters or more, ASCII letters in lower case,
 * cut at MAX_WORD characters, the first MAX_WORDS of them, each once. (Redis's Lua sees bytes:
 * this is what it can split alike.)
 */
export function wordsOf(text: string): string[] {
  // (A loop over the characters: a submit splits its URL, and a regex costs ten times this.)
  const words: string[] = [];
  let start = -1;
  let upper = false;
  for (let i = 0; i <= text.length; i++) {
    const code = i < text.length ? text.charCodeAt(i) : 0;
    if ((code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code >= 128) {
      if (start < 0) start = i;
      continue;
    }
    if (code >= 65 && code <= 90) {
      if (start < 0) start = i;
      upper = true;
      continue;
    }
    if (start >= 0 && i - start >= 2) {
      let word = text.slice(start, Math.min(i, start + MAX_WORD));
      if (upper) word = word.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
      if (!words.includes(word) && words.push(word) === MAX_WORDS) break;
    }
    start = -1;
    upper = false;
  }
  return words;
}

/** The words a task is found by: its URL's and its message's, or a task from code's route's. */
export function taskWords(task: Pick<Task, 'url' | 'message' | 'route'>): string[] {
  const words = wordsOf(task.url ?? (task.route === undefined ? '' : task.route));
  if (task.message !== undefined) for (const word of wordsOf(task.message)) if (!words.includes(word)) words.push(word);
  return words;
}

/** True when the task matches every field of the query but the cursor. */
export function matches(task: Task, query: CheckedQuery): boolean {
  if (query.status !== undefined && !query.status.has(task.status)) return false;
  if (query.route !== undefined && task.route !== query.route) return false;
  if (query.owner !== undefined && task.owner !== query.owner) return false;
  if (query.id !== undefined && !task.id.toLowerCase().startsWith(query.id)) return false;
  if (task.createdAt < query.from || task.createdAt >= query.to) return false;
  if (query.waiting !== undefined && (task.status === 'running' && task.waitingFor !== undefined) !== query.waiting) return false;
  if (query.words.length > 0) {
    const words = taskWords(task);
    if (!query.words.every((word) => words.includes(word))) return false;
  }
  return true;
}

/** Where a walk starts: before the cursor, and before `to`, whichever is older. */
export function startOf(query: CheckedQuery): Position | undefined {
  const { after, to } = query;
  if (to === Infinity) return after;
  const before: Position = { at: to, id: '' };
  if (after === undefined) return before;
  return after.at < to ? after : before;
}

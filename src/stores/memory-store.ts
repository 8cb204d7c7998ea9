import { EventLimitError, IdempotencyKeyReusedError, TaskFinishedError, TaskLimitError, TaskNotFoundError } from '../core/errors.js';
import { MAX_TIMER_DELAY, checkKeys, count, milliseconds } from '../core/options.js';
import type { Problem } from '../core/problem.js';
import type { NewTask, StoreListener, TaskListener, TaskStore } from '../core/store.js';
import { canTransition, type Outcome, type Reply, type Rerun, type RunRecord, type Task, type TaskStatus } from '../core/task.js';
import type { DurableLimits, DurableRecord, SentEvent, WaitOutcome, WaitRequest, WaitingFor } from '../core/durable.js';
import { ACTIVITY_MINUTES, MINUTE, NO_ROUTE, newRouteMinute, recordEnd, type RouteMinute } from '../core/activity.js';
import { MAX_WORDS, checkQuery, wordsOf, type TaskCounts, type TaskPage, type TaskQuery } from '../core/task-query.js';
import { ExpiryQueue } from './expiry-queue.js';
import { MemoryIndexes } from './memory-indexes.js';

/** Options of `MemoryStore`. */
export interface MemoryStoreOptions {
  /** Milliseconds a finished task is kept; `Infinity` keeps it. Default 300000. */
  ttl?: number;
  /** Tasks held at once, live and finished. Default 100000. */
  maxTasks?: number;
  /** Milliseconds a failed, timed-out or canceled task is kept (to be rewound); `Infinity` keeps it. Default: `ttl`. */
  failedTtl?: number;
}

// The janitor wakes at most this often, so a task is gone at most this long after it
// expired: well within the promised second, even with a late timer.
const SWEEP_INTERVAL = 500;
// A purge yields to the event loop after removing this many tasks, or after this many
// milliseconds, whichever comes first. The count keeps a slice short; the time catches
// the slices that rehash Maps (they shrink as they empty) or run before the code is compiled.
const SLICE_SIZE = 2_000;
const SLICE_BUDGET = 2;
// The tasks are spread over this many Maps. A Map rehashes all its entries at once when it
// doubles or halves; one Map of a million tasks stalls the event loop for 50 ms or more
// doing so, 256 smaller ones never for long.
const SHARDS = 256;
// A slice of the indexes' build ends once it has run this long (at the end of a shard).
const INDEX_SLICE = 8;

// The method a route name begins with (see express/route-name.ts).
function methodOf(route: string): string {
  const space = route.indexOf(' ');
  return space < 0 ? route : route.slice(0, space);
}

function shardOf(id: string): number {
  // Any string works; for a uuid the first characters are random. NaN (a short id) & 255 is 0.
  return ((id.charCodeAt(0) * 31 + id.charCodeAt(1)) * 31 + id.charCodeAt(2)) & (SHARDS - 1);
}

/** A Map split into shards by key (see SHARDS). */
class ShardedMap<V> {
  readonly #shards = Array.from({ length: SHARDS }, () => new Map<string, V>());
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(key: string): V | undefined {
    return this.#shards[shardOf(key)]!.get(key);
  }

  set(key: string, value: V): void {
    const shard = this.#shards[shardOf(key)]!;
    const before = shard.size;
    this.#size += shard.set(key, value).size - before;
  }

  delete(key: string): void {
    if (this.#shards[shardOf(key)]!.delete(key)) this.#size--;
  }

  /** The values of shard `index` (see `shardOf`). */
  shard(index: number): IterableIterator<V> {
    return this.#shards[index]!.values();
  }
}

// What few tasks have: an owner, progress. Kept aside, so that a task without costs nothing.
interface Extra {
  owner: string | undefined;
  progress: number | undefined;
  message: string | undefined;
  readOnce: boolean;
  /** Its idempotency key, as the store's index of keys has it. */
  key: string | undefined;
  attempt: number | undefined;
  attempts: number | undefined;
  retryAt: number | undefined;
  rerun: Rerun | undefined;
  /** The words of its messages it is indexed by (see MemoryIndexes). */
  words: string[] | undefined;
  /** Its method, when its route does not begin with it (see MemoryTask.method). */
  method: string | undefined;
  /** Its steps and events, once it kept one (durable tasks). */
  durable: MemoryDurable | undefined;
}

/** What a task keeps of its steps and events, and what it waits for (see `DurableRecord`). */
interface MemoryDurable {
  readonly steps: Map<string, string>;
  readonly events: Map<string, (string | null)[]>;
  /** Events kept (timeouts not counted), for `maxEvents`. */
  count: number;
  /** The idempotency keys of the events kept. */
  keys: Set<string> | undefined;
  spent: number;
  waiting: WaitingFor | undefined;
  /** How often it was rewound, and its runs before (a task that was rewound keeps them here too). */
  rewinds: number;
  runs: RunRecord[] | undefined;
}

// An Extra with nothing in it, every field in one order (one shape for all of them).
function noExtra(): Extra {
  return { owner: undefined, progress: undefined, message: undefined, readOnce: false, key: undefined, attempt: undefined, attempts: undefined, retryAt: undefined, rerun: undefined, words: undefined, method: undefined, durable: undefined };
}

// Creation times are kept as milliseconds since this module was loaded: a number V8 holds in
// the object itself for tasks created within about 24 days of it (a time since the epoch is a
// boxed number of its own, 16 bytes a task).
const EPOCH = Date.now();

// A task whose URL is its route's path (`POST /reports` at `/reports`: no parameters, no
// query) keeps this in place of a string of its own.
const URL_OF_ROUTE = '\u0000';

/**
 * A reply of the usual shape (`{ status, headers, body }`, a text body or none) is kept as one
 * string: `<status> <number of header parts>[+ when it has a body]`, then each name and value
 * and the body, a line each (a header has no line break; the body is the rest). A reply object,
 * its headers' array and a string per value would cost a task about 130 bytes more. The reply
 * is made again when it is read.
 */
function pack(reply: Reply): Reply | string {
  const { headers, body } = reply;
  if (typeof body === 'object' || reply.statusMessage !== undefined || reply.chunks !== undefined || reply.removed !== undefined || reply.trailers !== undefined || reply.utf8Head !== undefined) return reply;
  let text = `${reply.status} ${headers.length}${body === undefined ? '' : '+'}`;
  for (const part of headers) {
    if (part.includes('\n')) return reply;
    text += '\n' + part;
  }
  if (body !== undefined) text += '\n' + body;
  // V8 keeps a string built by concatenation as a tree of its pieces until read; reading a
  // character flattens it, and the next collection keeps only the flat string.
  text.charCodeAt(0);
  return text;
}

function unpack(text: string): Reply {
  let at = text.indexOf('\n');
  const head = at < 0 ? text : text.slice(0, at);
  const space = head.indexOf(' ');
  const hasBody = head.endsWith('+');
  const count = Number(head.slice(space + 1, hasBody ? -1 : undefined));
  const headers: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const next = text.indexOf('\n', at + 1);
    const end = next < 0 ? text.length : next;
    headers[i] = text.slice(at + 1, end);
    at = end;
  }
  return { status: Number(head.slice(0, space)), headers, body: hasBody ? text.slice(at + 1) : undefined };
}

// One class, every field set in the constructor: all records share one compact shape. Times
// after the creation are kept as milliseconds since it, which V8 holds in the object itself
// (a time since the epoch would be a boxed number of its own); reply and problem share a field.
class MemoryTask implements Task {
  status: TaskStatus = 'queued';
  #started: number | undefined = undefined;
  #finished: number | undefined = undefined;
  #outcome: Reply | string | Problem | undefined = undefined;
  #extra: Extra | undefined;
  readonly route: string | undefined;
  #url: string | undefined;
  readonly id: string;
  #created: number;
  constructor(task: NewTask, key: string | undefined) {
    const { owner, attempts, rerun, route, url } = task;
    const readOnce = task.readOnce === true;
    this.id = task.id;
    this.#created = task.createdAt - EPOCH;
    this.route = route;
    // A request's method begins its route (`POST /reports`): it is read from there.
    const method = task.method === undefined || (url !== undefined && route !== undefined && methodOf(route) === task.method) ? undefined : task.method;
    this.#url = url !== undefined && method === undefined && route !== undefined && route.length === url.length + route.indexOf(' ') + 1 && route.endsWith(url) ? URL_OF_ROUTE : url;
    this.#extra =
      owner === undefined && !readOnce && key === undefined && attempts === undefined && rerun === undefined && method === undefined
        ? undefined
        : { ...noExtra(), owner, readOnce, key, attempt: attempts === undefined ? undefined : 1, attempts, rerun, method };
  }

  get createdAt(): number {
    return EPOCH + this.#created;
  }

  get url(): string | undefined {
    const url = this.#url;
    return url === URL_OF_ROUTE ? this.route!.slice(this.route!.indexOf(' ') + 1) : url;
  }

  get method(): string | undefined {
    const extra = this.#extra?.method;
    if (extra !== undefined) return extra;
    return this.#url === undefined || this.route === undefined ? undefined : methodOf(this.route);
  }

  get rerun(): Rerun | undefined {
    return this.#extra?.rerun;
  }
  get rerunnable(): true | undefined {
    return this.#extra?.rerun === undefined ? undefined : true;
  }

  get attempt(): number | undefined {
    return this.#extra?.attempt;
  }
  get attempts(): number | undefined {
    return this.#extra?.attempts;
  }
  get retryAt(): number | undefined {
    return this.#extra?.retryAt;
  }

  retrying(attempt: number, at: number): void {
    const extra = this.#ensureExtra();
    extra.attempt = attempt;
    extra.retryAt = at;
  }

  get key(): string | undefined {
    return this.#extra?.key;
  }

  get readOnce(): boolean | undefined {
    return this.#extra?.readOnce === true ? true : undefined;
  }

  get owner(): string | undefined {
    return this.#extra?.owner;
  }
  get progress(): number | undefined {
    return this.#extra?.progress;
  }
  get message(): string | undefined {
    return this.#extra?.message;
  }
  get startedAt(): number | undefined {
    return this.#started === undefined ? undefined : this.createdAt + this.#started;
  }
  get finishedAt(): number | undefined {
    return this.#finished === undefined ? undefined : this.createdAt + this.#finished;
  }
  get reply(): Reply | undefined {
    if (this.status !== 'succeeded') return undefined;
    const outcome = this.#outcome as Reply | string;
    return typeof outcome === 'string' ? unpack(outcome) : outcome;
  }
  get problem(): Problem | undefined {
    return this.status === 'failed' ? (this.#outcome as Problem) : undefined;
  }

  started(at: number): void {
    this.status = 'running';
    this.#started = at - this.createdAt;
    if (this.#extra !== undefined) this.#extra.retryAt = undefined;
  }

  /** Records progress. */
  reported(progress: number, message: string | undefined): void {
    const extra = this.#ensureExtra();
    extra.progress = progress;
    extra.message = message;
  }

  /**
   * The words of `message` it is not indexed by yet, now counted as indexed. Each word once:
   * an index holds a task once under a word. (At most so many words, over all its messages: a
   * task that reports a new sentence each time is found by its first ones.)
   */
  newWords(message: string): string[] {
    const extra = this.#ensureExtra();
    const own = this.ownWords;
    const fresh: string[] = [];
    for (const word of wordsOf(message)) {
      const known = (extra.words ??= []);
      if (known.length === MAX_WORDS * 4) break;
      if (own.includes(word) || known.includes(word)) continue;
      known.push(word);
      fresh.push(word);
    }
    return fresh;
  }

  /** The words of its URL (a task from code: of its route), which it is indexed by from the start. */
  get ownWords(): string[] {
    return wordsOf(this.url ?? this.route ?? '');
  }

  /** Every word it is indexed by: its own, and its messages'. */
  get words(): string[] {
    const extra = this.#extra?.words;
    return extra === undefined ? this.ownWords : [...this.ownWords, ...extra];
  }

  #ensureExtra(): Extra {
    return (this.#extra ??= noExtra());
  }

  /** Every field, as plain data (the getters above are not own properties). */
  toJSON(): Task {
    const { id, owner, status, progress, message, createdAt, startedAt, finishedAt, reply, problem, readOnce, attempt, attempts, retryAt } = this;
    const task: { -readonly [K in keyof Task]: Task[K] } = { id, owner, status, progress, message, createdAt, startedAt, finishedAt, reply, problem };
    if (readOnce) task.readOnce = readOnce;
    if (attempts !== undefined) Object.assign(task, { attempt, attempts }, retryAt === undefined ? {} : { retryAt });
    const { route, method, url, rerunnable } = this;
    if (route !== undefined) task.route = route;
    if (method !== undefined) task.method = method;
    if (url !== undefined) task.url = url;
    if (rerunnable) task.rerunnable = rerunnable;
    const { waitingFor, rewinds, runs } = this;
    if (waitingFor !== undefined) task.waitingFor = waitingFor;
    if (rewinds !== undefined) task.rewinds = rewinds;
    if (runs !== undefined) task.runs = [...runs];
    return task;
  }

  /** What it waits for, while it runs and waits. */
  get waitingFor(): WaitingFor | undefined {
    return this.status === 'running' ? this.#extra?.durable?.waiting : undefined;
  }

  /** Its steps and events, made on first use. */
  get durable(): MemoryDurable {
    const extra = this.#ensureExtra();
    return (extra.durable ??= { steps: new Map(), events: new Map(), count: 0, keys: undefined, spent: 0, waiting: undefined, rewinds: 0, runs: undefined });
  }

  /** Its steps and events if it kept any. */
  get kept(): MemoryDurable | undefined {
    return this.#extra?.durable;
  }

  get rewinds(): number | undefined {
    const rewinds = this.#extra?.durable?.rewinds;
    return rewinds === undefined || rewinds === 0 ? undefined : rewinds;
  }

  get runs(): readonly RunRecord[] | undefined {
    return this.#extra?.durable?.runs;
  }

  /** It runs again under its id: its end becomes a run of its history, and it is queued, with a fresh retry budget. */
  rewound(): void {
    const durable = this.durable;
    const { status, startedAt, finishedAt, problem } = this;
    (durable.runs ??= []).push({ status: status as 'failed' | 'canceled', startedAt, finishedAt, problem });
    durable.rewinds++;
    durable.waiting = undefined;
    this.status = 'queued';
    this.#started = undefined;
    this.#finished = undefined;
    this.#outcome = undefined;
    const extra = this.#extra!;
    extra.progress = extra.message = undefined;
    extra.retryAt = undefined;
    if (extra.attempts !== undefined) extra.attempt = 1;
  }


  finished(outcome: Outcome, at: number): void {
    this.status = outcome.status;
    if (this.#extra !== undefined) {
      this.#extra.retryAt = undefined;
      if (this.#extra.durable !== undefined) this.#extra.durable.waiting = undefined;
      // The job to run it again is kept for a task that did not succeed.
      if (outcome.status === 'succeeded') this.#extra.rerun = undefined;
    }
    this.#finished = at - this.createdAt;
    this.#outcome = outcome.status === 'succeeded' ? pack(outcome.reply) : outcome.status === 'failed' ? outcome.problem : undefined;
  }
}

/**
 * Keeps tasks in Maps (256 of them, see SHARDS). Finished tasks wait in an expiry queue in the order they
 * finished, which with one ttl is the order they expire: the janitor pops from its front,
 * so a sweep costs what it removes, and a large purge runs in slices of about a
 * millisecond. Its timer is unref'd and runs only while finished tasks wait.
 */
export class MemoryStore implements TaskStore {
  readonly #tasks = new ShardedMap<MemoryTask>();
  // Finished tasks by the order they expire: those that succeeded, and those that did not.
  readonly #expiring: ExpiryQueue<MemoryTask>;
  readonly #expiringFailed: ExpiryQueue<MemoryTask>;
  // Idempotency keys: each the task it made, and the fingerprint of that task's request.
  readonly #keys = new Map<string, { readonly task: MemoryTask; readonly fingerprint: string }>();
  // One listener (the usual case: the task's runner) or a set of them, by task id.
  readonly #watchers = new Map<string, TaskListener | Set<TaskListener>>();
  // Who hears of every task (the dashboard's event streams).
  readonly #feed = new Set<StoreListener>();
  // The dashboard's indexes, built on first use (see `prepareList`): an app without a
  // dashboard pays for none, per task or in the janitor. While they are being built, the
  // shards below `#indexedShards` are in them, the others not yet.
  #indexes: MemoryIndexes<MemoryTask> | undefined;
  #indexedShards = 0;
  #building: Promise<void> | undefined;
  // Tasks per status, kept always: a counter each.
  readonly #counts: TaskCounts = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 };
  // The last minutes' activity: by minute, by route.
  // The last minutes' activity, by minute and route: for the dashboard, so recorded from when
  // the indexes are asked for (see `prepareList`).
  readonly #activity = new Map<number, Map<string, RouteMinute>>();
  readonly #ttl: number;
  readonly #maxTasks: number;
  #timer: NodeJS.Timeout | undefined;
  #slice: NodeJS.Immediate | undefined;
  #closed = false;

  constructor(options?: MemoryStoreOptions) {
    const given = checkKeys(options, ['ttl', 'maxTasks', 'failedTtl'], 'MemoryStore options');
    this.#ttl = given.ttl === undefined ? 300_000 : milliseconds(given.ttl, 'MemoryStore options.ttl', true);
    const failedTtl = given.failedTtl === undefined ? this.#ttl : milliseconds(given.failedTtl, 'MemoryStore options.failedTtl', true);
    this.#expiring = new ExpiryQueue(this.#ttl);
    this.#expiringFailed = new ExpiryQueue(failedTtl);
    this.#maxTasks = given.maxTasks === undefined ? 100_000 : count(given.maxTasks, 'MemoryStore options.maxTasks');
  }

  /** Tasks held now, live and finished. */
  get size(): number {
    return this.#tasks.size;
  }

  async create(task: NewTask): Promise<Task> {
    const { idempotency } = task;
    if (idempotency !== undefined) {
      const known = this.#keys.get(idempotency.key);
      if (known !== undefined) {
        if (known.fingerprint !== idempotency.fingerprint) throw new IdempotencyKeyReusedError();
        return known.task;
      }
    }
    if (this.#tasks.size >= this.#maxTasks) throw new TaskLimitError(this.#maxTasks);
    // V8 keeps a string built by concatenation (a uuid is) as a tree of its pieces, about
    // 490 bytes for a uuid; reading a character flattens it, and the next GC keeps only
    // the flat 56 bytes.
    task.id.charCodeAt(0);
    const created = new MemoryTask(task, idempotency?.key);
    this.#tasks.set(task.id, created);
    if (idempotency !== undefined) this.#keys.set(idempotency.key, { task: created, fingerprint: idempotency.fingerprint });
    this.#counts.queued++;
    if (this.#indexed(created)) this.#indexes!.add(created, created.ownWords);
    if (this.#indexes !== undefined) this.#minute(created.route, Date.now()).submitted++;
    this.#tell(created);
    return created;
  }

  async delete(id: string, finished = false): Promise<boolean> {
    // (A finished one deleted here stays in the expiry queue, which lets go of it in time.)
    const task = this.#tasks.get(id);
    if (task === undefined || finished === (task.status === 'queued' || task.status === 'running')) return false;
    this.#remove(task);
    return true;
  }

  async rewind(id: string, finishedBy?: number): Promise<Task | undefined> {
    const task = this.#tasks.get(id);
    if (task === undefined || (task.status !== 'failed' && task.status !== 'canceled')) return undefined;
    if (finishedBy !== undefined && (task.finishedAt as number) > finishedBy) return undefined;
    const from = task.status;
    // Live again: its place in the expiry queue is not its own anymore.
    const queue = this.#queueOf(task);
    if (queue.ttl !== Infinity) queue.leave(task);
    task.rewound();
    this.#moved(task, from);
    this.#notify(task);
    return task;
  }

  async rerun(id: string): Promise<Rerun | undefined> {
    return this.#tasks.get(id)?.rerun;
  }

  // A task leaves, with its idempotency key and its places in the indexes.
  #remove(task: MemoryTask): void {
    this.#tasks.delete(task.id);
    const { key } = task;
    if (key !== undefined && this.#keys.get(key)?.task === task) this.#keys.delete(key);
    this.#counts[task.status]--;
    if (this.#indexed(task)) this.#indexes!.remove(task, task.words);
    if (this.#feed.size > 0) for (const listener of this.#feed) listener({ id: task.id, task: undefined });
  }

  async get(id: string): Promise<Task | undefined> {
    return this.#tasks.get(id);
  }

  async take(id: string): Promise<Task | undefined> {
    const task = this.#tasks.get(id);
    if (task === undefined || task.status === 'queued' || task.status === 'running') return task;
    // One synchronous step: whoever calls first gets it. The expiry queue lets go of it in time.
    // (Others may hold the same object, answering a HEAD, say: it stays whole.)
    this.#remove(task);
    return task.toJSON();
  }

  async start(id: string, at: number, takeOver = false): Promise<boolean> {
    const task = this.#tasks.get(id);
    if (task === undefined || !(task.status === 'queued' || (takeOver && task.status === 'running'))) return false;
    const from = task.status;
    task.started(at);
    this.#moved(task, from);
    this.#notify(task);
    return true;
  }

  async retry(id: string, attempt: number, at: number): Promise<boolean> {
    const task = this.#tasks.get(id);
    if (task === undefined || (task.status !== 'running' && task.status !== 'queued')) return false;
    if (task.status === 'queued') {
      task.started(Date.now());
      this.#moved(task, 'queued');
    }
    task.retrying(attempt, at);
    this.#notify(task);
    return true;
  }

  async progress(id: string, fraction: number, message: string | undefined): Promise<void> {
    const task = this.#tasks.get(id);
    if (task === undefined || (task.status !== 'running' && task.status !== 'queued')) return;
    task.reported(fraction, message);
    if (message !== undefined && this.#indexed(task)) {
      const words = task.newWords(message);
      if (words.length > 0) this.#indexes!.addWords(task, words);
    }
    this.#notify(task);
  }

  async finish(id: string, outcome: Outcome, at: number, startedAt?: number): Promise<Task | undefined> {
    const task = this.#tasks.get(id);
    if (task === undefined || !canTransition(task.status, outcome.status, startedAt !== undefined)) return undefined;
    const from = task.status;
    if (startedAt !== undefined && task.status === 'queued') task.started(startedAt);
    task.finished(outcome, at);
    this.#moved(task, from);
    if (this.#indexes !== undefined) recordEnd(this.#minute(task.route, Date.now()), task, task.status);
    const queue = this.#queueOf(task);
    if (queue.ttl !== Infinity) {
      queue.push(task);
      this.#arm();
    }
    this.#notify(task);
    return task;
  }

  async durable(id: string): Promise<DurableRecord | undefined> {
    const task = this.#tasks.get(id);
    if (task === undefined) return undefined;
    const kept = task.kept;
    if (kept === undefined) return { steps: new Map(), events: new Map(), spent: 0 };
    // Copies: a run replays the record as it was when it read it.
    const events = new Map<string, readonly (string | null)[]>();
    for (const [name, list] of kept.events) events.set(name, [...list]);
    return { steps: new Map(kept.steps), events, spent: kept.spent };
  }

  async keepStep(id: string, name: string, json: string): Promise<boolean> {
    const task = this.#tasks.get(id);
    if (task === undefined || (task.status !== 'queued' && task.status !== 'running')) return false;
    const { steps } = task.durable;
    if (!steps.has(name)) steps.set(name, json);
    return true;
  }

  async wait(id: string, request: WaitRequest): Promise<WaitOutcome> {
    const task = this.#tasks.get(id);
    if (task === undefined || (task.status !== 'queued' && task.status !== 'running')) return { kind: 'ended' };
    const durable = task.durable;
    const { event, index } = request;
    const list = durable.events.get(event);
    const entry = list?.[index];
    if (entry !== undefined) return entry === null ? { kind: 'timeout' } : { kind: 'event', json: entry };
    const current = durable.waiting;
    const until = current !== undefined && current.event === event && current.index === index ? current.until : request.until;
    if (until !== undefined && until <= request.now) {
      // Timed out: its place goes to a mark, and the next event of the name to the next wait.
      if (list === undefined) durable.events.set(event, [null]);
      else if (list.length === index) list.push(null);
      durable.waiting = undefined;
      if (current !== undefined) this.#notify(task);
      return { kind: 'timeout' };
    }
    durable.spent = request.spent;
    const changed = current === undefined || current.event !== event || current.index !== index;
    durable.waiting = { event, index, until };
    if (changed) this.#notify(task);
    return { kind: 'waiting', until };
  }

  async sendEvent(id: string, name: string, json: string, limits: Pick<DurableLimits, 'maxEvents'>, key?: string): Promise<SentEvent> {
    const task = this.#tasks.get(id);
    if (task === undefined) throw new TaskNotFoundError(id);
    // A repeat of a key delivered already is answered as delivered, even once the task ended.
    if (key !== undefined && task.kept?.keys?.has(key) === true) return { kept: false, woke: false };
    if (task.status !== 'queued' && task.status !== 'running') throw new TaskFinishedError(id, task.status, 'events go to queued and running tasks only');
    const durable = task.durable;
    if (durable.count >= limits.maxEvents) throw new EventLimitError(id, limits.maxEvents);
    let list = durable.events.get(name);
    if (list === undefined) durable.events.set(name, (list = []));
    list.push(json);
    durable.count++;
    if (key !== undefined) (durable.keys ??= new Set()).add(key);
    const { waiting } = durable;
    const woke = waiting !== undefined && waiting.event === name && waiting.index === list.length - 1;
    if (woke) {
      durable.waiting = undefined;
      this.#notify(task);
    }
    return { kept: true, woke };
  }

  watch(id: string, listener: TaskListener): () => void {
    const current = this.#watchers.get(id);
    if (current === undefined) this.#watchers.set(id, listener);
    else if (current instanceof Set) current.add(listener);
    else this.#watchers.set(id, new Set([current, listener]));
    return () => {
      const now = this.#watchers.get(id);
      if (now === listener) this.#watchers.delete(id);
      else if (now instanceof Set) {
        now.delete(listener);
        if (now.size === 0) this.#watchers.delete(id);
      }
    };
  }

  watchAll(listener: StoreListener): () => void {
    this.#feed.add(listener);
    return () => void this.#feed.delete(listener);
  }

  async list(query?: TaskQuery): Promise<TaskPage> {
    const checked = checkQuery(query);
    await this.prepareList();
    return this.#indexes!.list(checked);
  }

  async counts(): Promise<TaskCounts> {
    return { ...this.#counts };
  }

  /**
   * Builds the indexes that `list()` walks, from the tasks held now, and keeps them from then
   * on, and records the activity of each route from now on (see `activity()`); resolves once
   * they are built. `tasks.dashboard()` calls it, and so does the first
   * `list()`. The build runs in slices of at most about 10 ms (a shard of tasks at a time), so
   * that a million tasks held never stall the event loop; tasks keep coming and going meanwhile.
   */
  prepareList(): Promise<void> {
    if (this.#building !== undefined) return this.#building;
    this.#indexes = new MemoryIndexes<MemoryTask>();
    this.#building = new Promise<void>((resolve) => {
      const slice = (): void => {
        const end = Date.now() + INDEX_SLICE;
        while (this.#indexedShards < SHARDS && Date.now() < end) {
          // One shard at once: a task of it is in the indexes from now on.
          for (const task of this.#tasks.shard(this.#indexedShards)) {
            const words = task.ownWords;
            const message = task.message;
            this.#indexes!.add(task, message === undefined ? words : [...words, ...task.newWords(message)]);
          }
          this.#indexedShards++;
        }
        if (this.#indexedShards < SHARDS) setImmediate(slice);
        else resolve();
      };
      slice();
    });
    return this.#building;
  }

  // Whether a task is in the indexes (they exist, and its shard was indexed).
  #indexed(task: MemoryTask): boolean {
    return this.#indexes !== undefined && (this.#indexedShards === SHARDS || shardOf(task.id) < this.#indexedShards);
  }

  #moved(task: MemoryTask, from: TaskStatus): void {
    this.#counts[from]--;
    this.#counts[task.status]++;
    if (this.#indexed(task)) this.#indexes!.moved(task, from);
  }

  async activity(since: number): Promise<RouteMinute[]> {
    const records: RouteMinute[] = [];
    const first = Math.max(since - (since % MINUTE), Date.now() - ACTIVITY_MINUTES * MINUTE);
    for (const [minute, routes] of this.#activity) if (minute + MINUTE > first) for (const record of routes.values()) records.push(record);
    return records;
  }

  // The record of a route's current minute; minutes past the kept ones are dropped.
  #minute(route: string | undefined, now: number): RouteMinute {
    const minute = now - (now % MINUTE);
    let routes = this.#activity.get(minute);
    if (routes === undefined) {
      for (const old of this.#activity.keys()) if (old <= minute - ACTIVITY_MINUTES * MINUTE) this.#activity.delete(old);
      this.#activity.set(minute, (routes = new Map()));
    }
    const name = route ?? NO_ROUTE;
    let record = routes.get(name);
    if (record === undefined) routes.set(name, (record = newRouteMinute(minute, name)));
    return record;
  }

  /**
   * How many places tasks hold in the indexes of `list()` (by status, route, owner, id and
   * word): 0 until a dashboard or a `list()` asked for them (see `prepareList`).
   */
  indexPlaces(): number {
    return this.#indexes?.places ?? 0;
  }

  /** Listeners watching the task `id`, or all tasks: a leak shows here. */
  watcherCount(id?: string): number {
    const count = (listeners: TaskListener | Set<TaskListener> | undefined): number =>
      listeners === undefined ? 0 : listeners instanceof Set ? listeners.size : 1;
    if (id !== undefined) return count(this.#watchers.get(id));
    let total = 0;
    for (const listeners of this.#watchers.values()) total += count(listeners);
    return total;
  }

  /**
   * Purges the tasks that have expired, from the front of the expiry queue. It stops at
   * the first task that has not expired, and after 2000 removals or 2 ms yields to the
   * event loop, continuing on its next turn. The janitor calls it; it returns how many it
   * removed in this slice.
   */
  sweep(): number {
    this.#slice = undefined;
    const now = Date.now();
    // Date.now(), not performance.now(): milliseconds are fine enough here, and the first
    // use of `performance` loads a module, which would stall the first slice.
    const budgetEnd = now + SLICE_BUDGET;
    let removed = 0;
    for (const queue of [this.#expiring, this.#expiringFailed]) {
      for (let front = queue.shiftExpired(now); front !== undefined; front = queue.shiftExpired(now)) {
        // (A task taken before it expired has gone already; its id is not reused.)
        if (this.#tasks.get(front.id) === front) this.#remove(front);
        removed++;
        if (removed === SLICE_SIZE || ((removed & 63) === 0 && Date.now() > budgetEnd)) {
          if (!this.#closed) {
            this.#slice = setImmediate(() => this.sweep());
            this.#slice.unref();
          }
          return removed;
        }
      }
    }
    this.#arm();
    return removed;
  }

  // The expiry queue of a finished task: a failed or canceled one may be kept longer.
  #queueOf(task: MemoryTask): ExpiryQueue<MemoryTask> {
    return task.status === 'succeeded' ? this.#expiring : this.#expiringFailed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#slice !== undefined) clearImmediate(this.#slice);
    this.#timer = this.#slice = undefined;
  }

  // Sets the janitor's timer for when the front of the queue expires, but no sooner than
  // SWEEP_INTERVAL from now: one sweep then takes everything that expired meanwhile, and no
  // task outlives its expiry by more than SWEEP_INTERVAL.
  #arm(): void {
    if (this.#timer !== undefined || this.#slice !== undefined || this.#closed) return;
    const a = this.#expiring.nextDue();
    const b = this.#expiringFailed.nextDue();
    if (a === undefined && b === undefined) return;
    const due = Math.min(a ?? Infinity, b ?? Infinity) - Date.now();
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.sweep();
      },
      Math.min(Math.max(due, SWEEP_INTERVAL), MAX_TIMER_DELAY),
    );
    this.#timer.unref();
  }

  #tell(task: MemoryTask): void {
    if (this.#feed.size > 0) for (const listener of this.#feed) listener({ id: task.id, task });
  }

  #notify(task: MemoryTask): void {
    this.#tell(task);
    if (this.#watchers.size === 0) return;
    const listeners = this.#watchers.get(task.id);
    if (listeners === undefined) return;
    if (listeners instanceof Set) for (const listener of [...listeners]) listener(task);
    else listeners(task);
  }
}

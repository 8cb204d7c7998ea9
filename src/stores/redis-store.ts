import type { Redis } from 'ioredis';
import { IdempotencyKeyReusedError, StoreUnavailableError, TaskLimitError } from '../core/errors.js';
import { checkKeys, count, milliseconds } from '../core/options.js';
import type { Problem } from '../core/problem.js';
import type { NewTask, TaskListener, TaskStore } from '../core/store.js';
import type { Outcome, Reply, Rerun, Task, TaskStatus } from '../core/task.js';

/** Options of `RedisStore`. */
export interface RedisStoreOptions {
  /** The ioredis client for commands; the store makes a duplicate of it to subscribe. */
  client: Redis;
  /** Prefix of the store's keys and channels. Default `'express-async-api'`. */
  prefix?: string;
  /** Milliseconds a finished task is kept; `Infinity` keeps it. Default 300000. Stored with each task. */
  ttl?: number;
  /** Tasks held at once, live and finished. Default 100000. */
  maxTasks?: number;
}

// A task is one JSON string, with short names:
//   s status, c createdAt, t ttl (-1: kept), o owner, p progress, m message,
//   b startedAt, f finishedAt, r reply, x problem, q read once (1; absent otherwise),
//   k the Redis key of its idempotency key (absent without one), a attempt, n attempts,
//   w when the next attempt starts (between attempts), u route, h method, l url,
//   j the job kept to run the task again (its rerun).
// An idempotency key is a string `<task id> <fingerprint>`, kept as long as its task: no
// expiry while the task is live, the task's ttl from its end, deleted with it.
// One string costs Redis less than a hash of the same fields once a value is longer than
// 64 bytes (a reply is), which makes Redis keep the hash as a hash table. Scripts change
// it as a whole; the reply and the problem come as JSON from the store and are appended to
// the encoding as they are (Lua's cjson cannot tell an empty array from an empty object).

// Each change is published with the task's state (its JSON), so that watchers need not read
// it; a state too big to send to every watching process (a large reply) is sent empty, and
// read by the watchers that want it.
const helpers = `
  local function publishState(channel, state)
    if #state > 65536 then state = '' end
    redis.call('PUBLISH', channel, state)
  end
  local function keep(key, state)
    redis.call('SET', key, state, 'KEEPTTL')
  end`;

// The transitions of core/task.ts canTransition(), as each script checks them.
const scripts = {
  // KEYS: index, task, idempotency key (its name even when unused: ARGV[6] says).
  // ARGV: now, max (-1: none), id, state, fingerprint, has key ('1'), prefix of task keys.
  // Returns 1 (created), 0 (full), -1 (key used for another request), or the state of the
  // key's task and its id.
  asyncApiCreateTask: {
    numberOfKeys: 3,
    lua: `
      if ARGV[6] == '1' then
        local known = redis.call('GET', KEYS[3])
        if known then
          local space = string.find(known, ' ', 1, true)
          local id = string.sub(known, 1, space - 1)
          if string.sub(known, space + 1) ~= ARGV[5] then return -1 end
          local text = redis.call('GET', ARGV[7] .. id)
          if text then return {id, text} end
        end
      end
      redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
      if ARGV[2] ~= '-1' and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
      redis.call('ZADD', KEYS[1], '+inf', ARGV[3])
      redis.call('SET', KEYS[2], ARGV[4])
      if ARGV[6] == '1' then redis.call('SET', KEYS[3], ARGV[3] .. ' ' .. ARGV[5]) end
      return 1`,
  },
  // KEYS: task. ARGV: at, takeOver, channel.
  asyncApiStartTask: {
    numberOfKeys: 1,
    lua: `
      local text = redis.call('GET', KEYS[1])
      if not text then return 0 end
      local task = cjson.decode(text)
      if task.s == 'queued' or (ARGV[2] == '1' and task.s == 'running') then
        task.s = 'running'
        task.b = tonumber(ARGV[1])
        task.w = nil
        local state = cjson.encode(task)
        keep(KEYS[1], state)
        publishState(ARGV[3], state)
        return 1
      end
      return 0`,
  },
  // KEYS: task. ARGV: attempt, at, now, channel.
  asyncApiRetryTask: {
    numberOfKeys: 1,
    lua: `
      local text = redis.call('GET', KEYS[1])
      if not text then return 0 end
      local task = cjson.decode(text)
      if task.s == 'queued' then
        task.s = 'running'
        task.b = tonumber(ARGV[3])
      elseif task.s ~= 'running' then
        return 0
      end
      task.a = tonumber(ARGV[1])
      task.w = tonumber(ARGV[2])
      local state = cjson.encode(task)
      keep(KEYS[1], state)
      publishState(ARGV[4], state)
      return 1`,
  },
  // KEYS: task. ARGV: fraction, message, hasMessage, channel.
  asyncApiProgressTask: {
    numberOfKeys: 1,
    lua: `
      local text = redis.call('GET', KEYS[1])
      if not text then return 0 end
      local task = cjson.decode(text)
      if task.s ~= 'queued' and task.s ~= 'running' then return 0 end
      task.p = tonumber(ARGV[1])
      if ARGV[3] == '1' then task.m = ARGV[2] else task.m = nil end
      local state = cjson.encode(task)
      keep(KEYS[1], state)
      publishState(ARGV[4], state)
      return 1`,
  },
  // KEYS: task, index. ARGV: status, at, field ('' for none), JSON value, id, channel, startedAt ('' for none).
  asyncApiFinishTask: {
    numberOfKeys: 2,
    lua: `
      local text = redis.call('GET', KEYS[1])
      if not text then return nil end
      local task = cjson.decode(text)
      local to = ARGV[1]
      local ran = ARGV[7] ~= ''
      if not (task.s == 'running' or (task.s == 'queued' and (to ~= 'succeeded' or ran))) then return nil end
      if ran and task.s == 'queued' then task.b = tonumber(ARGV[7]) end
      task.s = to
      task.f = tonumber(ARGV[2])
      task.w = nil
      local state = cjson.encode(task)
      if ARGV[3] ~= '' then state = string.sub(state, 1, -2) .. ',"' .. ARGV[3] .. '":' .. ARGV[4] .. '}' end
      local ttl = task.t
      if ttl and ttl ~= -1 then
        redis.call('SET', KEYS[1], state, 'PX', ttl)
        redis.call('ZADD', KEYS[2], tonumber(ARGV[2]) + ttl, ARGV[5])
        if task.k then redis.call('PEXPIRE', task.k, ttl) end
      else
        redis.call('SET', KEYS[1], state)
      end
      publishState(ARGV[6], state)
      return state`,
  },
  // KEYS: task, index. ARGV: id. A finished task is deleted and returned; a live one returned.
  asyncApiTakeTask: {
    numberOfKeys: 2,
    lua: `
      local text = redis.call('GET', KEYS[1])
      if not text then return nil end
      local task = cjson.decode(text)
      if task.s ~= 'queued' and task.s ~= 'running' then
        redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        if task.k then redis.call('DEL', task.k) end
      end
      return text`,
  },
  // KEYS: task, index. ARGV: id.
  asyncApiDeleteTask: {
    numberOfKeys: 2,
    lua: `
      local text = redis.call('GET', KEYS[1])
      if not text then return 1 end
      local task = cjson.decode(text)
      if task.s == 'queued' or task.s == 'running' then
        redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        if task.k then redis.call('DEL', task.k) end
      end
      return 1`,
  },
} as const;

type ScriptName = keyof typeof scripts;
type Scripted = Redis & Record<ScriptName, (...args: (string | number)[]) => Promise<unknown>>;

// A reply as JSON: its fields as they are, a binary body in base64.
type StoredReply = Omit<Reply, 'body'> & { body?: string; base64?: true };

function encodeReply(reply: Reply): string {
  const { body, ...rest } = reply;
  const stored: StoredReply = rest;
  if (typeof body === 'string') stored.body = body;
  else if (body !== undefined) {
    stored.body = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64');
    stored.base64 = true;
  }
  return JSON.stringify(stored);
}

function decodeReply(stored: StoredReply): Reply {
  const { body, base64, ...rest } = stored;
  return { ...rest, body: base64 && body !== undefined ? new Uint8Array(Buffer.from(body, 'base64')) : body };
}

/** A task as stored: see the names above. */
interface StoredTask {
  s: TaskStatus;
  c: number;
  t: number;
  o?: string;
  p?: number;
  m?: string;
  b?: number;
  f?: number;
  r?: StoredReply;
  x?: Problem;
  q?: 1;
  k?: string;
  a?: number;
  n?: number;
  w?: number;
  u?: string;
  h?: string;
  l?: string;
  j?: Rerun;
}

function fromState(id: string, text: string | null): Task | undefined {
  if (text === null || text === '') return undefined;
  const task = JSON.parse(text) as StoredTask;
  const found: Task = {
    id,
    owner: task.o,
    status: task.s,
    progress: task.p,
    message: task.m,
    createdAt: task.c,
    startedAt: task.b,
    finishedAt: task.f,
    reply: task.r === undefined ? undefined : decodeReply(task.r),
    problem: task.x,
  };
  const extra = found as { -readonly [K in keyof Task]: Task[K] };
  if (task.q === 1) extra.readOnce = true;
  if (task.n !== undefined) {
    extra.attempt = task.a ?? 1;
    extra.attempts = task.n;
    if (task.w !== undefined) extra.retryAt = task.w;
  }
  if (task.u !== undefined) extra.route = task.u;
  if (task.h !== undefined) extra.method = task.h;
  if (task.l !== undefined) extra.url = task.l;
  if (task.j !== undefined) extra.rerun = task.j;
  return found;
}

/**
 * Keeps tasks in Redis, for many web and worker processes: a JSON string per task, changed
 * only by Lua scripts that check the transition (so a task finishes once, whichever process
 * finishes it), a sorted set that counts the tasks held for `maxTasks`, and a channel per
 * task on which every change is published with the task's state, so any process can watch
 * any task. A finished task expires `ttl` after it finished (Redis removes it). A command
 * that cannot reach Redis rejects with `StoreUnavailableError`.
 */
export class RedisStore implements TaskStore {
  readonly #client: Scripted;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #maxTasks: number;
  readonly #listeners = new Map<string, Set<TaskListener>>();
  #subscriber: Redis | undefined;
  #everReady = false;

  constructor(options: RedisStoreOptions) {
    const given = checkKeys(options, ['client', 'prefix', 'ttl', 'maxTasks'], 'RedisStore options');
    this.#client = given.client as Scripted;
    this.#prefix = (given.prefix as string | undefined) ?? 'express-async-api';
    this.#ttl = given.ttl === undefined ? 300_000 : milliseconds(given.ttl, 'RedisStore options.ttl', true);
    this.#maxTasks = given.maxTasks === undefined ? 100_000 : count(given.maxTasks, 'RedisStore options.maxTasks');
    if (this.#client.status === 'ready') this.#everReady = true;
    else this.#client.once('ready', () => (this.#everReady = true));
    for (const [name, script] of Object.entries(scripts)) {
      if (typeof (this.#client as unknown as Record<string, unknown>)[name] !== 'function') {
        this.#client.defineCommand(name, { numberOfKeys: script.numberOfKeys, lua: helpers + script.lua });
      }
    }
  }

  // One hash slot for all the keys of a store (the braces), so the scripts work on a cluster too.
  #task(id: string): string {
    return `{${this.#prefix}}:task:${id}`;
  }

  #key(key: string): string {
    return `{${this.#prefix}}:key:${key}`;
  }

  get #index(): string {
    return `{${this.#prefix}}:index`;
  }

  #channel(id: string): string {
    return `${this.#prefix}:changed:${id}`;
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      await this.#firstConnection();
      return await command();
    } catch (error) {
      throw new StoreUnavailableError({ cause: error });
    }
  }

  // A client that fails fast while Redis is unreachable (no offline queue) would also fail
  // the first commands of a process that has just started; those wait for the first
  // connection, a few seconds at most.
  #connected: Promise<void> | undefined;
  #firstConnection(): Promise<void> | undefined {
    const client = this.#client;
    if (this.#everReady || !['wait', 'connecting', 'connect'].includes(client.status)) return undefined;
    if (this.#connected !== undefined) return this.#connected;
    this.#connected = new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        client.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, 5_000);
      timer.unref();
      client.once('ready', done);
    }).finally(() => {
      this.#connected = undefined;
    });
    return this.#connected;
  }

  async create(task: NewTask): Promise<Task> {
    const { id, owner, createdAt, readOnce } = task;
    const state: StoredTask = { s: 'queued', c: createdAt, t: this.#ttl === Infinity ? -1 : this.#ttl };
    if (owner !== undefined) state.o = owner;
    if (readOnce === true) state.q = 1;
    const { idempotency, attempts, route, method, url, rerun } = task;
    if (route !== undefined) state.u = route;
    if (method !== undefined) state.h = method;
    if (url !== undefined) state.l = url;
    if (rerun !== undefined) state.j = rerun;
    if (attempts !== undefined) {
      state.a = 1;
      state.n = attempts;
    }
    const keyName = this.#key(idempotency?.key ?? '-');
    if (idempotency !== undefined) state.k = keyName;
    const created = (await this.#run(() =>
      this.#client.asyncApiCreateTask(
        this.#index,
        this.#task(id),
        keyName,
        Date.now(),
        this.#maxTasks === Infinity ? -1 : this.#maxTasks,
        id,
        JSON.stringify(state),
        idempotency?.fingerprint ?? '',
        idempotency === undefined ? '0' : '1',
        this.#task(''),
      ),
    )) as number | [string, string];
    if (created === 0) throw new TaskLimitError(this.#maxTasks);
    if (created === -1) throw new IdempotencyKeyReusedError();
    if (Array.isArray(created)) return fromState(created[0], created[1])!;
    return fromState(id, JSON.stringify(state))!;
  }

  async take(id: string): Promise<Task | undefined> {
    return fromState(id, (await this.#run(() => this.#client.asyncApiTakeTask(this.#task(id), this.#index, id))) as string | null);
  }

  async get(id: string): Promise<Task | undefined> {
    return fromState(id, await this.#run(() => this.#client.get(this.#task(id))));
  }

  async start(id: string, at: number, takeOver = false): Promise<boolean> {
    return (await this.#run(() => this.#client.asyncApiStartTask(this.#task(id), at, takeOver ? '1' : '0', this.#channel(id)))) === 1;
  }

  async retry(id: string, attempt: number, at: number): Promise<boolean> {
    return (await this.#run(() => this.#client.asyncApiRetryTask(this.#task(id), attempt, at, Date.now(), this.#channel(id)))) === 1;
  }

  async progress(id: string, fraction: number, message: string | undefined): Promise<void> {
    await this.#run(() =>
      this.#client.asyncApiProgressTask(this.#task(id), fraction, message ?? '', message === undefined ? '0' : '1', this.#channel(id)),
    );
  }

  async finish(id: string, outcome: Outcome, at: number, startedAt?: number): Promise<Task | undefined> {
    const [field, value] =
      outcome.status === 'succeeded'
        ? ['r', encodeReply(outcome.reply)]
        : outcome.status === 'failed'
          ? ['x', JSON.stringify(outcome.problem)]
          : ['', ''];
    const state = (await this.#run(() =>
      this.#client.asyncApiFinishTask(this.#task(id), this.#index, outcome.status, at, field, value, id, this.#channel(id), startedAt ?? ''),
    )) as string | null;
    return fromState(id, state);
  }

  async delete(id: string): Promise<void> {
    await this.#run(() => this.#client.asyncApiDeleteTask(this.#task(id), this.#index, id));
  }

  /**
   * Watches a task through the store's one pattern subscription, which every change of
   * every task comes through with its state. A watch made while that subscription is still
   * being set up reads the task once it is in place, so a change meanwhile is not lost;
   * listeners may so hear of a state twice.
   */
  watch(id: string, listener: TaskListener): () => void {
    let listeners = this.#listeners.get(id);
    if (listeners === undefined) this.#listeners.set(id, (listeners = new Set()));
    listeners.add(listener);
    if (this.#subscribed === undefined) this.#subscribe();
    if (this.#subscribed !== true) this.#subscribed!.then(() => this.#read(id), () => {});
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.#listeners.get(id) === listeners) this.#listeners.delete(id);
    };
  }

  /** Listeners watching the task `id`, or all tasks. */
  watcherCount(id?: string): number {
    if (id !== undefined) return this.#listeners.get(id)?.size ?? 0;
    let total = 0;
    for (const listeners of this.#listeners.values()) total += listeners.size;
    return total;
  }

  // true once the pattern subscription is in place; a promise while it is being set up.
  #subscribed: Promise<void> | true | undefined;

  #subscribe(): void {
    // Subscriptions wait for the connection (and ioredis renews them after a reconnect).
    const subscriber = this.#client.duplicate({ enableOfflineQueue: true });
    this.#subscriber = subscriber;
    // A lost connection is retried by ioredis; its errors are not ours to throw.
    subscriber.on('error', () => {});
    const prefix = `${this.#prefix}:changed:`;
    subscriber.on('pmessage', (_pattern: string, channel: string, state: string) => {
      const id = channel.slice(prefix.length);
      if (!this.#listeners.has(id)) return;
      if (state === '') this.#read(id);
      else this.#tell(id, fromState(id, state));
    });
    const subscribed = subscriber.psubscribe(`${prefix}*`).then(() => {
      if (this.#subscribed === subscribed) this.#subscribed = true;
    });
    this.#subscribed = subscribed;
  }

  #read(id: string): void {
    if (this.#listeners.has(id)) this.get(id).then((task) => this.#tell(id, task), () => {});
  }

  #tell(id: string, task: Task | undefined): void {
    const listeners = this.#listeners.get(id);
    if (task === undefined || listeners === undefined) return;
    for (const listener of [...listeners]) listener(task);
  }

  /** Stops watching; the command client is its owner's to close. */
  async close(): Promise<void> {
    this.#listeners.clear();
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
    this.#subscribed = undefined;
  }
}

import { EventLimitError, IdempotencyKeyReusedError, InvalidQueryError, TaskFinishedError, TaskLimitError, TaskNotFoundError, type NewTask, type Reply, type Task, type TaskQuery, type TaskStatus, type TaskStore } from 'express-async-api';

/** A TaskStore that can count the listeners watching it. */
export type WatchedStore = TaskStore & { watcherCount(id?: string): number };
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const reply: Reply = { status: 201, headers: ['content-type', 'application/json; charset=utf-8'], body: '{"ok":true}' };
const problem = { status: 422, type: 'about:blank', title: 'Unprocessable Entity', detail: 'bad', expose: true };

/**
 * The behaviour every TaskStore must have. `make` builds an empty store holding at most
 * `maxTasks` tasks; ids must be unique per call (stores may share a server).
 */
export function storeContract(name: string, make: (options: { maxTasks: number }) => Promise<WatchedStore>, newId: () => string) {
  describe(`${name} (TaskStore contract)`, () => {
    let store: WatchedStore;
    beforeEach(async () => {
      store = await make({ maxTasks: 3 });
    });
    afterEach(async () => {
      await store.close();
    });

    const create = async (owner?: string) => store.create({ id: newId(), owner, createdAt: 1_000 });

    it('creates queued tasks and finds them by id', async () => {
      const created = await create('alice');
      expect(created).toMatchObject({ status: 'queued', owner: 'alice', createdAt: 1_000, progress: undefined });
      expect(await store.get(created.id)).toMatchObject({ id: created.id, status: 'queued', owner: 'alice' });
      expect(await store.get(newId())).toBeUndefined();
      expect(await store.get('__proto__')).toBeUndefined();
    });

    it('refuses to hold more than maxTasks, adding nothing', async () => {
      const ids = [(await create()).id, (await create()).id, (await create()).id];
      const extra = newId();
      await expect(store.create({ id: extra, owner: undefined, createdAt: 1 })).rejects.toBeInstanceOf(TaskLimitError);
      expect(await store.get(extra)).toBeUndefined();
      for (const id of ids) expect(await store.get(id)).toBeDefined();
    });

    it('moves a task queued → running → succeeded, keeping progress and the reply', async () => {
      const { id } = await create();
      expect(await store.start(id, 2_000)).toBe(true);
      await store.progress(id, 0.5, 'half');
      expect(await store.get(id)).toMatchObject({ status: 'running', startedAt: 2_000, progress: 0.5, message: 'half' });
      const finished = await store.finish(id, { status: 'succeeded', reply }, 3_000);
      expect(finished).toMatchObject({ status: 'succeeded', finishedAt: 3_000 });
      const read = (await store.get(id)) as Task;
      expect(read.reply?.status).toBe(201);
      expect(read.reply?.headers).toEqual(reply.headers);
      expect(String(read.reply?.body)).toBe('{"ok":true}');
    });

    it('keeps binary reply bodies byte for byte', async () => {
      const { id } = await create();
      await store.start(id, 1);
      const body = new Uint8Array([0, 255, 128, 1]);
      await store.finish(id, { status: 'succeeded', reply: { status: 200, headers: [], body } }, 2);
      const read = (await store.get(id)) as Task;
      expect([...(read.reply?.body as Uint8Array)]).toEqual([0, 255, 128, 1]);
    });

    it('records failures with their problem', async () => {
      const { id } = await create();
      await store.start(id, 1);
      await store.finish(id, { status: 'failed', problem }, 2);
      expect((await store.get(id))?.problem).toEqual(problem);
    });

    it("keeps a failure's error record with its problem as it was given: through get, a watch, a list and take", async () => {
      // What JSON encoders may change on the way: empty objects and arrays, large integers, escapes.
      const error = {
        name: 'PaymentError',
        message: 'é "quoted"\n\u2028',
        status: 402,
        code: 'card_declined',
        expose: true,
        properties: { empty: {}, none: [], large: 12_345_678_901_234, fraction: 0.1, nested: { list: [1, 'two', null, true, { deep: [[]] }] } },
        handler: 2,
      };
      const failing = { ...problem, error };
      const { id } = await create();
      let heard: Task | undefined;
      const stop = store.watch(id, (task) => (heard = task));
      await store.start(id, 1);
      await store.finish(id, { status: 'failed', problem: failing }, 2);
      expect((await store.get(id))?.problem).toEqual(failing);
      await waitUntil(() => heard?.status === 'failed');
      stop();
      expect(heard?.problem).toEqual(failing);
      expect((await store.list()).tasks.find((task) => task.id === id)?.problem).toEqual(failing);
      expect((await store.take(id))?.problem).toEqual(failing);
    });

    it('finishes a task once: later outcomes, starts and progress change nothing', async () => {
      const { id } = await create();
      expect(await store.finish(id, { status: 'canceled' }, 5)).toMatchObject({ status: 'canceled' });
      expect(await store.finish(id, { status: 'succeeded', reply }, 6)).toBeUndefined();
      expect(await store.start(id, 7)).toBe(false);
      await store.progress(id, 1, 'late');
      expect(await store.get(id)).toMatchObject({ status: 'canceled', finishedAt: 5, progress: undefined, reply: undefined });
    });

    it('lets a queued task succeed when its end says when it started (a start not written apart)', async () => {
      const { id } = await create();
      expect(await store.finish(id, { status: 'succeeded', reply }, 1_009, 1_004)).toMatchObject({ status: 'succeeded', startedAt: 1_004, finishedAt: 1_009 });
      expect((await store.get(id))?.reply?.body).toBe(reply.body);
      const running = await create();
      await store.start(running.id, 1_002);
      // A task the store knew had started keeps its start.
      expect(await store.finish(running.id, { status: 'failed', problem }, 1_008, 1_005)).toMatchObject({ startedAt: 1_002 });
    });

    it("keeps an empty header list and a reply's every field through the store", async () => {
      const { id } = await create();
      await store.start(id, 2);
      const full: Reply = { status: 299, statusMessage: 'Fine', headers: [], body: undefined, chunks: [], removed: ['date'], trailers: ['X-T', '1'], utf8Head: true };
      await store.finish(id, { status: 'succeeded', reply: full }, 3);
      expect((await store.get(id))?.reply).toEqual(full);
    });

    it('does not let a queued task succeed without running, nor start twice', async () => {
      const { id } = await create();
      expect(await store.finish(id, { status: 'succeeded', reply }, 1)).toBeUndefined();
      expect(await store.start(id, 2)).toBe(true);
      expect(await store.start(id, 3)).toBe(false);
    });

    it('answers unknown ids quietly', async () => {
      const id = newId();
      expect(await store.start(id, 1)).toBe(false);
      expect(await store.finish(id, { status: 'canceled' }, 1)).toBeUndefined();
      await store.progress(id, 0.5, undefined);
      await store.delete(id);
    });

    it('takes a finished task once, whoever asks at once; keeps a live one', async () => {
      const live = await create('alice');
      expect(await store.take(live.id)).toMatchObject({ id: live.id, status: 'queued' });
      expect(await store.get(live.id)).toBeDefined();
      const once = await store.create({ id: newId(), owner: 'alice', createdAt: 1_000, readOnce: true });
      expect(once.readOnce).toBe(true);
      expect((await store.get(once.id))?.readOnce).toBe(true);
      await store.start(once.id, 1_100);
      await store.finish(once.id, { status: 'succeeded', reply }, 1_200);
      const takes = await Promise.all(Array.from({ length: 10 }, () => store.take(once.id)));
      const taken = takes.filter((task) => task !== undefined);
      expect(taken).toHaveLength(1);
      expect(taken[0]).toMatchObject({ id: once.id, status: 'succeeded', owner: 'alice', readOnce: true, reply });
      expect(await store.get(once.id)).toBeUndefined();
      expect(await store.take(newId())).toBeUndefined();
      expect((await store.get(live.id))?.readOnce).toBeUndefined();
      // Its place is free again: maxTasks is 3, and two are held.
      await create();
      await create();
    });

    it('finds the task of an idempotency key instead of adding one; refuses it for another request', async () => {
      const key = `key-${newId()}`;
      const first = await store.create({ id: newId(), owner: 'ann', createdAt: 1_000, idempotency: { key, fingerprint: 'A' } });
      const again = await Promise.all([1, 2, 3].map(() => store.create({ id: newId(), owner: 'ann', createdAt: 2_000, idempotency: { key, fingerprint: 'A' } })));
      for (const found of again) expect(found).toMatchObject({ id: first.id, owner: 'ann', createdAt: 1_000, status: 'queued' });
      await expect(store.create({ id: newId(), owner: 'ann', createdAt: 2_000, idempotency: { key, fingerprint: 'B' } })).rejects.toBeInstanceOf(IdempotencyKeyReusedError);
      // The store holds one task (maxTasks 3): two more fit, a third does not.
      await create();
      await create();
      await expect(create()).rejects.toBeInstanceOf(TaskLimitError);
      // The key goes with its task.
      await store.delete(first.id);
      const fresh = await store.create({ id: newId(), owner: 'ann', createdAt: 3_000, idempotency: { key, fingerprint: 'B' } });
      expect(fresh.id).not.toBe(first.id);
      await store.start(fresh.id, 3_100);
      await store.finish(fresh.id, { status: 'succeeded', reply }, 3_200);
      expect((await store.create({ id: newId(), owner: 'ann', createdAt: 4_000, idempotency: { key, fingerprint: 'B' } })).id).toBe(fresh.id);
      await store.take(fresh.id);
      expect((await store.create({ id: newId(), owner: 'ann', createdAt: 5_000, idempotency: { key, fingerprint: 'C' } })).id).not.toBe(fresh.id);
    });

    it('records retries: the attempt, the next one\'s time; a start clears the time; an ended task takes none', async () => {
      const task = await store.create({ id: newId(), owner: undefined, createdAt: 1_000, attempts: 3 });
      expect(task).toMatchObject({ status: 'queued', attempt: 1, attempts: 3 });
      expect(task.retryAt).toBeUndefined();
      // A first attempt that failed before its start was told: it ran, so it is running.
      expect(await store.retry(task.id, 2, 5_000)).toBe(true);
      expect(await store.get(task.id)).toMatchObject({ status: 'running', attempt: 2, attempts: 3, retryAt: 5_000 });
      expect(await store.start(task.id, 5_001, true)).toBe(true);
      const restarted = await store.get(task.id);
      expect(restarted).toMatchObject({ status: 'running', attempt: 2, startedAt: 5_001 });
      expect(restarted?.retryAt).toBeUndefined();
      await store.finish(task.id, { status: 'failed', problem }, 6_000);
      expect(await store.retry(task.id, 3, 7_000)).toBe(false);
      expect(await store.retry(newId(), 2, 7_000)).toBe(false);
      const plain = await create();
      expect(plain.attempts).toBeUndefined();
    });

    it('deletes a live task, freeing its place', async () => {
      const tasks = [await create(), await create(), await create()];
      await store.delete(tasks[0]!.id);
      expect(await store.get(tasks[0]!.id)).toBeUndefined();
      await create();
    });

    it('tells watchers of changes until they stop watching, the last one the task as it ended', async () => {
      // A store may tell of a state more than once, or of a later state only (it reads the
      // task when it hears of a change); it never tells of an earlier state after a later one.
      const { id } = await create();
      const seen: string[] = [];
      const stop = store.watch(id, (task) => seen.push(`${task.status}:${task.progress ?? '-'}`));
      const other = store.watch(newId(), () => seen.push('wrong task'));
      await store.start(id, 1);
      await store.progress(id, 0.5, undefined);
      await store.finish(id, { status: 'succeeded', reply }, 2);
      await waitUntil(() => seen.at(-1) === 'succeeded:0.5');
      stop();
      other();
      const order = ['queued:-', 'running:-', 'running:0.5', 'succeeded:0.5'];
      const ranks = seen.map((state) => order.indexOf(state));
      expect(ranks.every((rank, i) => rank >= 0 && (i === 0 || rank >= ranks[i - 1]!))).toBe(true);
      expect(store.watcherCount()).toBe(0);
    });
  });
}

/**
 * Waits, yielding to the event loop, until `condition` holds (for stores that notify
 * asynchronously): bounded by time, 10 s, not by turns (a busy machine delays Redis's messages).
 */
export async function waitUntil(condition: () => boolean, maxMs = 10_000): Promise<void> {
  const end = performance.now() + maxMs;
  while (!condition() && performance.now() < end) await new Promise((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error('condition never held');
}

/**
 * What every TaskStore must answer for the dashboard: lists by query, a page at a time,
 * counts per status, the activity per route, and every change of every task.
 */
export function listContract(name: string, make: (options: { maxTasks: number }) => Promise<WatchedStore>, newId: () => string) {
  describe(`${name} (TaskStore list contract)`, () => {
    let store: WatchedStore;
    beforeEach(async () => {
      store = await make({ maxTasks: 10_000 });
    });
    afterEach(async () => {
      await store.close();
    });

    // Tasks made at known times, some at the same millisecond (ties go by id).
    async function fill(count: number, shape: (i: number) => Partial<NewTask> = () => ({})) {
      const made: Task[] = [];
      for (let i = 0; i < count; i++) made.push(await store.create({ id: newId(), owner: undefined, createdAt: 1_000 + Math.floor(i / 3), ...shape(i) }));
      return made;
    }
    const newestFirst = (tasks: readonly Task[]) => [...tasks].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)).map((task) => task.id);
    async function all(query: TaskQuery): Promise<{ ids: string[]; pages: number }> {
      const ids: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list({ ...query, ...(cursor === undefined ? {} : { cursor }) });
        expect(page.tasks.length).toBeLessThanOrEqual(query.limit ?? 50);
        ids.push(...page.tasks.map((task) => task.id));
        cursor = page.next;
        pages++;
      } while (cursor !== undefined && pages < 1_000);
      return { ids, pages };
    }

    it('lists every task once, newest first, a page at a time, by an opaque cursor', async () => {
      const made = await fill(23);
      const first = await store.list({ limit: 10 });
      expect(first.tasks).toHaveLength(10);
      expect(typeof first.next).toBe('string');
      const { ids, pages } = await all({ limit: 10 });
      expect(ids).toEqual(newestFirst(made));
      expect(pages).toBeGreaterThanOrEqual(3);
      expect((await store.list()).tasks).toHaveLength(23);
      expect(await store.list({ limit: 500 })).toMatchObject({ next: undefined });
    });

    it('filters by status, route, owner, id prefix, words and creation time', async () => {
      const made = await fill(30, (i) => ({
        route: i % 3 === 0 ? 'POST /reports/:kind' : 'GET /exports',
        url: i % 3 === 0 ? `/reports/annual?year=${2000 + i}` : '/exports',
        ...(i % 5 === 0 ? { owner: 'alice' } : {}),
      }));
      for (const [i, task] of made.entries()) {
        if (i % 2 === 0) await store.start(task.id, 2_000);
        if (i % 4 === 0) await store.finish(task.id, { status: 'failed', problem }, 3_000);
      }
      const ids = (filter: (task: Task, i: number) => boolean) => newestFirst(made.filter(filter));
      expect((await all({ status: ['failed'], limit: 4 })).ids).toEqual(ids((_task, i) => i % 4 === 0));
      expect((await all({ status: ['queued', 'failed'], limit: 4 })).ids).toEqual(ids((_task, i) => i % 2 === 1 || i % 4 === 0));
      expect((await all({ route: 'POST /reports/:kind' })).ids).toEqual(ids((_task, i) => i % 3 === 0));
      expect((await all({ owner: 'alice' })).ids).toEqual(ids((_task, i) => i % 5 === 0));
      expect((await all({ text: 'ANNUAL 2003' })).ids).toEqual([made[3]!.id]);
      expect((await all({ text: 'exports' })).ids).toEqual(ids((_task, i) => i % 3 !== 0));
      expect((await all({ text: 'nowhere' })).ids).toEqual([]);
      expect((await all({ route: 'GET /exports', status: ['running'], owner: 'alice' })).ids).toEqual(ids((_task, i) => i % 3 !== 0 && i % 2 === 0 && i % 4 !== 0 && i % 5 === 0));
      expect((await all({ from: 1_002, to: 1_005 })).ids).toEqual(ids((task) => task.createdAt >= 1_002 && task.createdAt < 1_005));
      const target = made[17]!;
      expect((await all({ id: target.id })).ids).toEqual([target.id]);
      expect((await all({ id: target.id.slice(0, 5).toUpperCase() })).ids).toEqual(ids((task) => task.id.startsWith(target.id.slice(0, 5))));
      expect((await all({ id: target.id.slice(0, 1), limit: 2 })).ids).toEqual(ids((task) => task.id.startsWith(target.id[0]!)));
    });

    it('finds a task by the words of its message now, not of a message it had before', async () => {
      const [task] = await fill(1, () => ({ url: '/jobs' }));
      await store.start(task!.id, 2_000);
      await store.progress(task!.id, 0.1, 'Reading <img src=x onerror=alert(1)> rows');
      expect((await store.list({ text: 'reading rows' })).tasks.map((one) => one.id)).toEqual([task!.id]);
      expect((await store.list({ text: 'onerror' })).tasks).toHaveLength(1);
      await store.progress(task!.id, 0.5, 'writing the file');
      expect((await store.list({ text: 'reading' })).tasks).toHaveLength(0);
      expect((await store.list({ text: 'file jobs' })).tasks.map((one) => one.id)).toEqual([task!.id]);
    });

    it('keeps a cursor right while tasks are added and removed', async () => {
      const made = await fill(12);
      const first = await store.list({ limit: 5 });
      // Newer tasks come before the cursor; the removed ones are skipped.
      await store.create({ id: newId(), owner: undefined, createdAt: 5_000 });
      const older = newestFirst(made).slice(5);
      await store.delete(older[0]!);
      const { id: finishing } = made.find((task) => task.id === older[1])!;
      await store.start(finishing, 2_000);
      await store.finish(finishing, { status: 'canceled' }, 3_000);
      expect(await store.take(finishing)).toBeDefined();
      const rest = await all({ limit: 5, cursor: first.next! } as TaskQuery);
      expect(rest.ids).toEqual(older.slice(2));
    });

    it('counts the tasks of each status', async () => {
      const made = await fill(6);
      await store.start(made[0]!.id, 2);
      await store.start(made[1]!.id, 2);
      await store.finish(made[1]!.id, { status: 'succeeded', reply }, 3);
      await store.finish(made[2]!.id, { status: 'canceled' }, 3);
      await store.start(made[3]!.id, 2);
      await store.finish(made[3]!.id, { status: 'failed', problem }, 3);
      await store.delete(made[4]!.id);
      expect(await store.counts()).toEqual({ queued: 1, running: 1, succeeded: 1, failed: 1, canceled: 1 });
      await store.take(made[1]!.id);
      await store.delete(made[3]!.id, true);
      expect(await store.counts()).toEqual({ queued: 1, running: 1, succeeded: 0, failed: 0, canceled: 1 });
      expect(await store.get(made[3]!.id)).toBeUndefined();
    });

    it('refuses a bad query with an error that names the field', async () => {
      await expect(store.list({ limit: 0 })).rejects.toThrow(InvalidQueryError);
      await expect(store.list({ limit: 501 })).rejects.toThrow('query.limit must be a whole number from 1 to 500, got 501');
      await expect(store.list({ status: ['done' as TaskStatus] })).rejects.toThrow('query.status: "done" is not a status');
      await expect(store.list({ cursor: 'not a cursor!' })).rejects.toThrow('query.cursor is not a cursor of this list');
      await expect(store.list({ text: '- !' })).rejects.toThrow('query.text has no word to search for');
      await expect(store.list({ colour: 'red' } as TaskQuery)).rejects.toThrow('Unknown query field "colour"');
    });

    it('records per route and minute what was submitted, how it ended, and how long it waited and ran', async () => {
      // (A store that builds its lists on first use records from then.)
      await store.prepareList?.();
      const since = Date.now();
      const made = await fill(4, (i) => ({ route: i < 3 ? 'POST /a' : 'POST /b', createdAt: since }));
      await store.start(made[0]!.id, since + 10);
      await store.finish(made[0]!.id, { status: 'succeeded', reply }, since + 110);
      await store.start(made[1]!.id, since + 10);
      await store.finish(made[1]!.id, { status: 'failed', problem }, since + 20);
      await store.finish(made[2]!.id, { status: 'canceled' }, since + 30);
      const records = await store.activity(since);
      const sum = (route: string) => {
        const total = { submitted: 0, succeeded: 0, failed: 0, canceled: 0, runs: 0, queued: 0 };
        for (const record of records.filter((one) => one.route === route)) {
          for (const key of ['submitted', 'succeeded', 'failed', 'canceled'] as const) total[key] += record[key];
          total.runs += Object.values(record.run).reduce((a, b) => a + b, 0);
          total.queued += Object.values(record.queue).reduce((a, b) => a + b, 0);
        }
        return total;
      };
      expect(sum('POST /a')).toEqual({ submitted: 3, succeeded: 1, failed: 1, canceled: 1, runs: 2, queued: 2 });
      expect(sum('POST /b')).toEqual({ submitted: 1, succeeded: 0, failed: 0, canceled: 0, runs: 0, queued: 0 });
    });

    it('tells a store-wide listener of every change of every task, and of removals', async () => {
      const seen: string[] = [];
      const stopProbe = await waitForFeed(store);
      const stop = store.watchAll(({ id, task }) => seen.push(`${id.slice(0, 4)}:${task?.status ?? 'removed'}`));
      stopProbe();
      const [a, b] = await fill(2);
      await store.start(a!.id, 2);
      await store.finish(a!.id, { status: 'succeeded', reply }, 3);
      await store.take(a!.id);
      await store.delete(b!.id);
      const expected = [`${a!.id.slice(0, 4)}:queued`, `${b!.id.slice(0, 4)}:queued`, `${a!.id.slice(0, 4)}:running`, `${a!.id.slice(0, 4)}:succeeded`, `${a!.id.slice(0, 4)}:removed`, `${b!.id.slice(0, 4)}:removed`];
      await waitUntil(() => seen.length >= expected.length);
      expect(seen).toEqual(expected);
      stop();
      await store.create({ id: newId(), owner: undefined, createdAt: 1 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(seen).toHaveLength(expected.length);
    });

    it('keeps the job of a task that can run again until it succeeds, and says so', async () => {
      const rerun = { job: { kind: 'call' as const, module: 'file:///m.js', exportName: 'default', input: { a: [] }, maxReplyBytes: 10 }, route: { timeout: 5, readOnce: false, idempotency: 'optional' as const, retries: undefined, exportName: 'default', queueTimeout: undefined } };
      const kept = await store.create({ id: newId(), owner: undefined, createdAt: 1, rerun });
      const plain = await store.create({ id: newId(), owner: undefined, createdAt: 1 });
      await store.start(kept.id, 2);
      expect((await store.get(kept.id))?.rerunnable).toBe(true);
      expect((await store.get(plain.id))?.rerunnable).toBeUndefined();
      expect(await store.rerun(kept.id)).toEqual(JSON.parse(JSON.stringify(rerun)));
      expect(await store.rerun(plain.id)).toBeUndefined();
      // Kept while it may be wanted again: a failed task's, not a succeeded one's.
      const failed = await store.create({ id: newId(), owner: undefined, createdAt: 1, rerun });
      await store.finish(failed.id, { status: 'failed', problem }, 3);
      expect((await store.get(failed.id))?.rerunnable).toBe(true);
      expect(await store.rerun(failed.id)).toBeDefined();
      await store.finish(kept.id, { status: 'succeeded', reply }, 3);
      expect((await store.get(kept.id))?.rerunnable).toBeUndefined();
      expect(await store.rerun(kept.id)).toBeUndefined();
    });
  });
}

// A store-wide listener of a Redis store hears of changes once its subscription is in place:
// a probe's changes, until one is heard (and its removal). Returns the stop of its listener.
async function waitForFeed(store: WatchedStore): Promise<() => void> {
  const probe = await store.create({ id: `probe-${Math.random()}`, owner: undefined, createdAt: 0 });
  let heard = false;
  let removed = false;
  const stop = store.watchAll(({ id, task }) => {
    heard ||= id === probe.id;
    removed ||= id === probe.id && task === undefined;
  });
  for (let i = 0; i < 1_000 && !heard; i++) {
    await store.progress(probe.id, 0, undefined);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await store.delete(probe.id);
  await waitUntil(() => removed);
  return stop;
}

/**
 * What every TaskStore keeps for durable tasks: steps' results, events in order (each wait of
 * a name takes the next), a wait's deadline across runs, timeouts, idempotency keys of events,
 * the limit of events, and `waitingFor` while a task waits.
 */
export function durableContract(name: string, make: (options: { maxTasks: number }) => Promise<WatchedStore>, newId: () => string) {
  describe(`${name} (TaskStore durable contract)`, () => {
    let store: WatchedStore;
    beforeEach(async () => {
      store = await make({ maxTasks: 100 });
    });
    afterEach(async () => {
      await store.close();
    });
    const limits = { maxEvents: 3 };
    const running = async () => {
      const { id } = await store.create({ id: newId(), owner: undefined, createdAt: 1_000 });
      await store.start(id, 1_001);
      return id;
    };
    const wait = (id: string, event: string, index: number, until?: number, now = 5_000) => store.wait(id, { event, index, until, now, spent: 7 });

    it('keeps a step result once, the first, and only for a live task', async () => {
      const id = await running();
      expect(await store.durable(id)).toEqual({ steps: new Map(), events: new Map(), spent: 0 });
      expect(await store.keepStep(id, 'quote', '{"amount":12}')).toBe(true);
      expect(await store.keepStep(id, 'quote', '{"amount":99}')).toBe(true);
      expect(await store.keepStep(id, 'nothing', '')).toBe(true);
      const record = await store.durable(id);
      expect([...record!.steps]).toEqual([['quote', '{"amount":12}'], ['nothing', '']]);
      await store.finish(id, { status: 'succeeded', reply }, 2_000);
      expect(await store.keepStep(id, 'late', '1')).toBe(false);
      // Kept with the task as long as it is: a rewind or a late read finds them.
      expect([...(await store.durable(id))!.steps.keys()]).toEqual(['quote', 'nothing']);
      expect(await store.durable(newId())).toBeUndefined();
    });

    it('marks a task waiting, wakes it with the event it waits for, and answers later waits in order', async () => {
      const id = await running();
      const seen: (string | undefined)[] = [];
      let progress: number | undefined;
      const stop = store.watch(id, (task) => {
        progress = task.progress;
        seen.push(task.waitingFor?.event);
      });
      // Once the watch hears of changes (a Redis store's subscription takes a moment, and reads
      // the task once it is in place): a change made after that is the last it tells of.
      for (let i = 0; i < 1_000 && seen.length === 0; i++) {
        await store.progress(id, 0, undefined);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await store.progress(id, 0.5, undefined);
      await waitUntil(() => progress === 0.5);
      expect(await wait(id, 'approval', 0, 9_000)).toEqual({ kind: 'waiting', until: 9_000 });
      expect((await store.get(id))!.waitingFor).toEqual({ event: 'approval', index: 0, until: 9_000 });
      await waitUntil(() => seen.at(-1) === 'approval');
      expect(await store.sendEvent(id, 'other', '1', limits)).toEqual({ kept: true, woke: false });
      expect(await store.sendEvent(id, 'approval', '{"ok":true}', limits)).toEqual({ kept: true, woke: true });
      expect((await store.get(id))!.waitingFor).toBeUndefined();
      await waitUntil(() => seen.at(-1) === undefined);
      expect(await wait(id, 'approval', 0)).toEqual({ kind: 'event', json: '{"ok":true}' });
      expect(await wait(id, 'approval', 1)).toEqual({ kind: 'waiting', until: undefined });
      expect((await store.get(id))!.waitingFor).toEqual({ event: 'approval', index: 1, until: undefined });
      await waitUntil(() => seen.at(-1) === 'approval');
      stop();
      expect((await store.durable(id))!.spent).toBe(7);
    });

    it('keeps an event sent before the wait for the first wait of its name', async () => {
      const id = await running();
      expect(await store.sendEvent(id, 'payment', '"paid"', limits)).toEqual({ kept: true, woke: false });
      expect(await store.sendEvent(id, 'payment', '"again"', limits)).toEqual({ kept: true, woke: false });
      expect(await wait(id, 'payment', 0)).toEqual({ kind: 'event', json: '"paid"' });
      expect(await wait(id, 'payment', 1)).toEqual({ kind: 'event', json: '"again"' });
      expect([...(await store.durable(id))!.events]).toEqual([['payment', ['"paid"', '"again"']]]);
    });

    it('times a wait out at its first deadline, and gives the next event of its name to the next wait', async () => {
      const id = await running();
      expect(await wait(id, 'approval', 0, 6_000, 5_000)).toEqual({ kind: 'waiting', until: 6_000 });
      // A run that waits again (after a resume) keeps the deadline it was first given.
      expect(await wait(id, 'approval', 0, 60_000, 5_500)).toEqual({ kind: 'waiting', until: 6_000 });
      expect(await wait(id, 'approval', 0, 60_000, 6_000)).toEqual({ kind: 'timeout' });
      expect((await store.get(id))!.waitingFor).toBeUndefined();
      expect(await wait(id, 'approval', 0)).toEqual({ kind: 'timeout' });
      expect(await store.sendEvent(id, 'approval', '"late"', limits)).toEqual({ kept: true, woke: false });
      expect(await wait(id, 'approval', 1)).toEqual({ kind: 'event', json: '"late"' });
      expect([...(await store.durable(id))!.events]).toEqual([['approval', [null, '"late"']]]);
    });

    it('delivers an event once per idempotency key, and keeps at most maxEvents', async () => {
      const id = await running();
      expect(await store.sendEvent(id, 'e', '1', limits, 'key-1')).toEqual({ kept: true, woke: false });
      expect(await store.sendEvent(id, 'e', '1', limits, 'key-1')).toEqual({ kept: false, woke: false });
      expect(await store.sendEvent(id, 'e', '2', limits)).toEqual({ kept: true, woke: false });
      expect(await store.sendEvent(id, 'f', '3', limits, 'key-2')).toEqual({ kept: true, woke: false });
      await expect(store.sendEvent(id, 'e', '4', limits)).rejects.toBeInstanceOf(EventLimitError);
      // A repeat past the limit is still a repeat; and once the task ended.
      expect(await store.sendEvent(id, 'f', '3', limits, 'key-2')).toEqual({ kept: false, woke: false });
      expect([...(await store.durable(id))!.events]).toEqual([['e', ['1', '2']], ['f', ['3']]]);
      await store.finish(id, { status: 'canceled' }, 2_000);
      expect(await store.sendEvent(id, 'e', '1', limits, 'key-1')).toEqual({ kept: false, woke: false });
      await expect(store.sendEvent(id, 'e', '1', limits, 'key-3')).rejects.toBeInstanceOf(TaskFinishedError);
    });

    it('lists the tasks that wait, and those that do not', async () => {
      const waits = await running();
      const runs = await running();
      const { id: queued } = await store.create({ id: newId(), owner: undefined, createdAt: 1_000 });
      await wait(waits, 'approval', 0);
      expect((await store.list({ waiting: true })).tasks.map((task) => task.id)).toEqual([waits]);
      expect((await store.list({ waiting: false })).tasks.map((task) => task.id).sort()).toEqual([runs, queued].sort());
      expect((await store.list({ waiting: true, status: ['queued'] })).tasks).toEqual([]);
      await expect(store.list({ waiting: 'yes' as never })).rejects.toThrow('query.waiting must be true or false, got "yes"');
    });

    it('refuses events for an unknown or finished task, and forgets a wait when the task ends', async () => {
      await expect(store.sendEvent(newId(), 'e', '1', limits)).rejects.toBeInstanceOf(TaskNotFoundError);
      const id = await running();
      expect(await wait(id, 'e', 0)).toMatchObject({ kind: 'waiting' });
      await store.finish(id, { status: 'canceled' }, 2_000);
      expect((await store.get(id))!.waitingFor).toBeUndefined();
      await expect(store.sendEvent(id, 'e', '1', limits)).rejects.toBeInstanceOf(TaskFinishedError);
      expect(await wait(id, 'e', 0)).toEqual({ kind: 'ended' });
    });
  });
}

/** Rewinds, and deletes that say whether they deleted: what bulk actions stand on. */
export function rewindContract(name: string, make: (options: { maxTasks: number }) => Promise<WatchedStore>, newId: () => string) {
  describe(`${name} (TaskStore rewind contract)`, () => {
    let store: WatchedStore;
    beforeEach(async () => {
      store = await make({ maxTasks: 100 });
    });
    afterEach(async () => {
      await store.close();
    });

    it('rewinds a failed or canceled task under its id: queued again, its run kept, its steps and events too, its attempts from 1', async () => {
      const { id } = await store.create({ id: newId(), owner: 'ann', createdAt: 1_000, attempts: 3, route: 'POST /r' });
      await store.start(id, 1_010);
      await store.keepStep(id, 'quote', '7');
      await store.sendEvent(id, 'approval', 'true', { maxEvents: 10 });
      await store.retry(id, 2, 1_100);
      await store.progress(id, 0.5, 'half');
      await store.finish(id, { status: 'failed', problem }, 1_200);
      const seen: string[] = [];
      const stop = store.watch(id, (task) => seen.push(task.status));
      const rewound = await store.rewind(id);
      expect(rewound).toMatchObject({ id, status: 'queued', owner: 'ann', attempt: 1, attempts: 3, rewinds: 1, route: 'POST /r' });
      expect(rewound!.startedAt).toBeUndefined();
      expect(rewound!.finishedAt).toBeUndefined();
      expect(rewound!.progress).toBeUndefined();
      expect(rewound!.runs).toEqual([{ status: 'failed', startedAt: 1_010, finishedAt: 1_200, problem }]);
      expect(await store.get(id)).toMatchObject({ status: 'queued', rewinds: 1 });
      expect([...(await store.durable(id))!.steps]).toEqual([['quote', '7']]);
      expect((await store.durable(id))!.events.get('approval')).toEqual(['true']);
      await waitUntil(() => seen.includes('queued'));
      stop();
      // Its next end is its own; a second rewind adds to the runs.
      await store.start(id, 2_000);
      await store.finish(id, { status: 'canceled' }, 2_100);
      expect((await store.rewind(id))!.runs).toEqual([
        { status: 'failed', startedAt: 1_010, finishedAt: 1_200, problem },
        { status: 'canceled', startedAt: 2_000, finishedAt: 2_100, problem: undefined },
      ]);
      expect(await store.counts()).toMatchObject({ queued: 1, failed: 0, canceled: 0 });
    });

    it('rewinds only a failed or canceled task, once', async () => {
      const { id } = await store.create({ id: newId(), owner: undefined, createdAt: 1_000 });
      expect(await store.rewind(id)).toBeUndefined();
      await store.start(id, 1_001);
      await store.finish(id, { status: 'succeeded', reply }, 1_002);
      expect(await store.rewind(id)).toBeUndefined();
      expect(await store.rewind(newId())).toBeUndefined();
      const { id: failed } = await store.create({ id: newId(), owner: undefined, createdAt: 1_000 });
      await store.finish(failed, { status: 'failed', problem }, 1_002);
      const both = await Promise.all([store.rewind(failed), store.rewind(failed)]);
      expect(both.filter((task) => task !== undefined)).toHaveLength(1);
      // Not one that ended after a given time.
      await store.finish(failed, { status: 'canceled' }, 1_500);
      expect(await store.rewind(failed, 1_499)).toBeUndefined();
      expect(await store.rewind(failed, 1_500)).toMatchObject({ status: 'queued', rewinds: 2 });
    });

    it('says whether a delete deleted', async () => {
      const { id } = await store.create({ id: newId(), owner: undefined, createdAt: 1_000 });
      await store.finish(id, { status: 'canceled' }, 1_001);
      expect(await store.delete(id)).toBe(false);
      expect(await store.delete(id, true)).toBe(true);
      expect(await store.delete(id, true)).toBe(false);
      expect(await store.get(id)).toBeUndefined();
    });
  });
}

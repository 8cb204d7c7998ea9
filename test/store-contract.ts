import { IdempotencyKeyReusedError, TaskLimitError, type Reply, type Task, type TaskStore } from 'express-async-api';

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

/** Waits, yielding to the event loop, until `condition` holds (for stores that notify asynchronously). */
export async function waitUntil(condition: () => boolean, maxTurns = 10_000): Promise<void> {
  for (let i = 0; i < maxTurns && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error('condition never held');
}

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemoryStore, type Reply } from 'express-async-api';
import { v4 as uuidv4 } from 'uuid';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { durableContract, listContract, rewindContract, storeContract } from './store-contract.js';

storeContract('MemoryStore', async ({ maxTasks }) => new MemoryStore({ maxTasks }), uuidv4);
listContract('MemoryStore', async ({ maxTasks }) => new MemoryStore({ maxTasks }), uuidv4);
durableContract('MemoryStore', async ({ maxTasks }) => new MemoryStore({ maxTasks }), uuidv4);
rewindContract('MemoryStore', async ({ maxTasks }) => new MemoryStore({ maxTasks }), uuidv4);

const reply: Reply = { status: 200, headers: [], body: '1' };

describe('MemoryStore janitor', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function finished(store: MemoryStore, id: string) {
    await store.create({ id, owner: undefined, createdAt: Date.now() });
    await store.start(id, Date.now());
    await store.finish(id, { status: 'succeeded', reply }, Date.now());
  }

  it('purges a finished task ttl after it finished, and within a second after that', async () => {
    const store = new MemoryStore({ ttl: 10_000 });
    await finished(store, 'a');
    await vi.advanceTimersByTimeAsync(9_999);
    expect(await store.get('a')).toBeDefined();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await store.get('a')).toBeUndefined();
    await store.close();
  });

  it('keeps each task its own ttl: purges in the order tasks finished', async () => {
    const store = new MemoryStore({ ttl: 5_000 });
    await finished(store, 'first');
    await vi.advanceTimersByTimeAsync(3_000);
    await finished(store, 'second');
    await vi.advanceTimersByTimeAsync(3_000); // first: 6 s old, second: 3 s
    expect(await store.get('first')).toBeUndefined();
    expect(await store.get('second')).toBeDefined();
    await vi.advanceTimersByTimeAsync(2_999); // second expired at 8 s, now 8.999 s
    expect(await store.get('second')).toBeUndefined();
    await store.close();
  });

  it('never purges queued or running tasks', async () => {
    const store = new MemoryStore({ ttl: 1_000 });
    await store.create({ id: 'queued', owner: undefined, createdAt: 0 });
    await store.create({ id: 'running', owner: undefined, createdAt: 0 });
    await store.start('running', 0);
    await finished(store, 'done');
    await vi.advanceTimersByTimeAsync(60 * 60_000);
    expect(await store.get('queued')).toBeDefined();
    expect(await store.get('running')).toBeDefined();
    expect(await store.get('done')).toBeUndefined();
    expect(store.size).toBe(2);
    await store.close();
  });

  it('has no timer while nothing waits to expire, and none after close()', async () => {
    const store = new MemoryStore({ ttl: 1_000 });
    expect(vi.getTimerCount()).toBe(0);
    await finished(store, 'a');
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(vi.getTimerCount()).toBe(0);
    await finished(store, 'b');
    await store.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('purges a large backlog in slices, yielding to the event loop between them', async () => {
    const store = new MemoryStore({ ttl: 1_000, maxTasks: Infinity });
    for (let i = 0; i < 5_000; i++) await finished(store, `t${i}`);
    vi.setSystemTime(5_000);
    const slices: number[] = [store.sweep()];
    expect(store.size).toBe(5_000 - slices[0]!);
    // The rest goes on its own, a slice per turn of the event loop.
    for (let turn = 0; turn < 1_000 && store.size > 0; turn++) {
      const before = store.size;
      await vi.advanceTimersToNextTimerAsync();
      slices.push(before - store.size);
    }
    // At most 2000 a slice (fewer when a slice runs out of its 2 ms), every one removed.
    expect(slices.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...slices)).toBeLessThanOrEqual(2_000);
    expect(slices.reduce((sum, n) => sum + n, 0)).toBe(5_000);
    await store.close();
  });

  it('does not keep a process alive: its timers are unref\'d', () => {
    const script = fileURLToPath(new URL('./fixtures/exits-normally.mjs', import.meta.url));
    const result = spawnSync(process.execPath, [script], { timeout: 15_000, encoding: 'utf8' });
    expect(result.error).toBeUndefined();
    expect(result.stdout.trim()).toBe('tasks finished; exiting without close()');
    expect(result.status).toBe(0);
  });
});

describe('MemoryStore options', () => {
  it('names the bad option', () => {
    expect(() => new MemoryStore({ ttl: -1 })).toThrow('MemoryStore options.ttl must be a positive number of milliseconds or Infinity, got -1');
    expect(() => new MemoryStore({ maxTasks: 0 })).toThrow('MemoryStore options.maxTasks must be a positive integer or Infinity, got 0');
  });
});

describe('MemoryStore indexes', () => {
  it('keep the lists in step with the janitor: an expired task is listed, counted and found by no word', async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const store = new MemoryStore({ ttl: 1_000 });
      await store.create({ id: 'kept', owner: 'o', createdAt: 0, route: 'GET /a', url: '/a/apples' });
      await store.create({ id: 'gone', owner: 'o', createdAt: 0, route: 'GET /a', url: '/a/apples' });
      await store.start('gone', 0);
      await store.progress('gone', 0.5, 'peeling pears');
      await store.finish('gone', { status: 'succeeded', reply }, 0);
      expect((await store.list({ text: 'pears' })).tasks).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(2_000);
      expect((await store.list()).tasks.map((task) => task.id)).toEqual(['kept']);
      for (const query of [{ text: 'pears' }, { text: 'apples' }, { owner: 'o' }, { route: 'GET /a' }, { id: 'go' }, { status: ['succeeded' as const] }]) {
        expect((await store.list(query)).tasks.map((task) => task.id)).toEqual(query.text === 'pears' || query.id === 'go' || query.status ? [] : ['kept']);
      }
      expect(await store.counts()).toEqual({ queued: 1, running: 0, succeeded: 0, failed: 0, canceled: 0 });
      await store.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('keep creation order through many tasks created out of order and removed at random', async () => {
    const store = new MemoryStore({ maxTasks: 100_000 });
    // A seeded generator: the same tasks every run.
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const live = new Map<string, number>();
    for (let i = 0; i < 6_000; i++) {
      const id = uuidv4();
      const createdAt = i < 3_000 ? i : Math.floor(random() * 3_000);
      await store.create({ id, owner: undefined, createdAt });
      live.set(id, createdAt);
    }
    for (const id of [...live.keys()]) {
      if (random() < 0.4) {
        await store.delete(id);
        live.delete(id);
      }
    }
    const expected = [...live].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : -1)).map(([id]) => id);
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ limit: 500, ...(cursor === undefined ? {} : { cursor }) });
      ids.push(...page.tasks.map((task) => task.id));
      cursor = page.next;
    } while (cursor !== undefined);
    expect(ids).toEqual(expected);
    expect((await store.counts()).queued).toBe(live.size);
    await store.close();
  });

  it('answers a query no index narrows with what it found among its budget of tasks, and a cursor for the rest', async () => {
    const store = new MemoryStore({ maxTasks: 100_000 });
    for (let i = 0; i < 12_000; i++) await store.create({ id: `task-${String(i).padStart(5, '0')}`, owner: undefined, createdAt: i, route: 'GET /x' });
    // Ten ids of 12,000 start with "task-0001": they lie past the budget of two pages.
    const first = await store.list({ id: 'task-0001', route: 'GET /x', limit: 10 });
    expect(first.tasks).toEqual([]);
    expect(first.next).toBeDefined();
    const second = await store.list({ id: 'task-0001', route: 'GET /x', limit: 10, cursor: first.next! });
    expect(second.tasks).toEqual([]);
    const third = await store.list({ id: 'task-0001', route: 'GET /x', limit: 10, cursor: second.next! });
    expect(third.tasks.map((task) => task.id)).toEqual(['task-00019', 'task-00018', 'task-00017', 'task-00016', 'task-00015', 'task-00014', 'task-00013', 'task-00012', 'task-00011', 'task-00010']);
    await store.close();
  });
});

describe('MemoryStore indexes, built on first use', () => {
  it('a store that never served a dashboard or a list holds no index entries, and counts all the same', async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const store = new MemoryStore({ ttl: 1_000 });
      for (let i = 0; i < 50; i++) {
        const id = `t-${i}`;
        await store.create({ id, owner: i % 2 === 0 ? 'ann' : undefined, createdAt: i, route: 'POST /reports/:kind', method: 'POST', url: `/reports/k${i}?page=${i}` });
        if (i % 5 === 0) continue;
        await store.start(id, i);
        await store.progress(id, 0.5, `step ${i} of many`);
        if (i % 5 !== 1) await store.finish(id, i % 5 === 2 ? { status: 'canceled' } : { status: 'succeeded', reply }, i);
      }
      await store.delete('t-3', true);
      expect(store.indexPlaces()).toBe(0);
      expect(await store.counts()).toEqual({ queued: 10, running: 10, succeeded: 19, failed: 0, canceled: 10 });
      await vi.advanceTimersByTimeAsync(2_000);
      expect(store.indexPlaces()).toBe(0);
      expect(await store.counts()).toEqual({ queued: 10, running: 10, succeeded: 0, failed: 0, canceled: 0 });
      await store.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('are built from every task held when first asked for, while tasks come and go, and kept from then on', async () => {
    const store = new MemoryStore({ maxTasks: Infinity, ttl: Infinity });
    const count = 60_000;
    for (let i = 0; i < count; i++) {
      const id = uuidv4();
      await store.create({ id, owner: `o${i % 3}`, createdAt: i, route: `GET /r${i % 4}`, url: `/r${i % 4}/item${i}` });
      if (i % 2 === 0) await store.start(id, i);
    }
    expect(store.indexPlaces()).toBe(0);
    const building = store.prepareList();
    // Changes between the slices of the build, in shards built and not yet built.
    const ids: string[] = [];
    for (let turn = 0; turn < 20; turn++) {
      const id = uuidv4();
      ids.push(id);
      await store.create({ id, owner: 'o1', createdAt: count + turn, route: 'GET /r1', url: `/r1/late${turn}` });
      await store.progress(id, 0.1, `words wonderful ${turn}`);
      if (turn % 2 === 0) await store.finish(id, { status: 'succeeded', reply }, count + turn, count + turn);
      if (turn % 4 === 0) await store.delete(id, true);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await building;
    const everything = async (query: Parameters<MemoryStore['list']>[0]) => {
      const found: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list({ ...query, limit: 500, ...(cursor === undefined ? {} : { cursor }) });
        found.push(...page.tasks.map((task) => task.id));
        cursor = page.next;
      } while (cursor !== undefined);
      return found;
    };
    const late = ids.filter((_, turn) => turn % 4 !== 0).reverse();
    expect(await everything({ text: 'wonderful' })).toEqual(late);
    expect(await everything({ route: 'GET /r1', text: 'late3' })).toEqual([ids[3]]);
    expect((await everything({ status: ['queued'] })).length).toBe(count / 2 + 10);
    expect((await everything({ owner: 'o1' })).length).toBe(count / 3 + late.length);
    expect((await everything({})).length).toBe(count + late.length);
    const counts = await store.counts();
    expect(store.indexPlaces()).toBeGreaterThan(count * 4);
    // Kept from then on: a new task is found at once.
    await store.create({ id: 'newest', owner: undefined, createdAt: 2 * count, url: '/brand/new' });
    expect((await store.list({ text: 'brand' })).tasks.map((task) => task.id)).toEqual(['newest']);
    expect((await store.counts()).queued).toBe(counts.queued + 1);
    await store.close();
  });
});

describe('MemoryStore replies', () => {
  it('gives back every reply as it was finished with, whatever its shape', async () => {
    const store = new MemoryStore();
    const replies: Reply[] = [
      { status: 204, headers: [], body: undefined },
      { status: 200, headers: [], body: 'no headers\nbut lines\n\nand blank ones\n' },
      { status: 200, headers: ['X-Empty', '', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'], body: '' },
      { status: 201, headers: ['Content-Type', 'text/plain; charset=utf-8', 'ETag', 'W/"5-x"'], body: 'héllo ✓' },
      { status: 200, headers: ['Content-Type', 'application/octet-stream'], body: new Uint8Array([0, 10, 255]) },
      { status: 200, statusMessage: 'Fine', headers: ['A', 'b'], body: 'x' },
      { status: 200, headers: ['A', 'b'], body: 'x', chunks: [1], removed: ['date'], trailers: ['T', 'v'] },
      { status: 304, headers: ['ETag', '"1"'], body: undefined },
    ];
    for (const [i, reply] of replies.entries()) {
      await store.create({ id: `r${i}`, owner: undefined, createdAt: i });
      await store.finish(`r${i}`, { status: 'succeeded', reply }, i, i);
      expect((await store.get(`r${i}`))!.reply).toEqual(reply);
    }
    await store.close();
  });
});

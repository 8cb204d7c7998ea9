import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemoryStore, type Reply } from 'express-async-api';
import { v4 as uuidv4 } from 'uuid';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { storeContract } from './store-contract.js';

storeContract('MemoryStore', async ({ maxTasks }) => new MemoryStore({ maxTasks }), uuidv4);

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

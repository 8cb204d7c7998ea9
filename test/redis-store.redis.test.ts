import { randomUUID } from 'node:crypto';
import { RedisStore } from 'express-async-api/bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { durableContract, listContract, rewindContract, storeContract, waitUntil } from './store-contract.js';
import { deleteKeys, redisUrl, uniqueName } from './redis.js';

const client = new Redis(redisUrl);
const prefixes: string[] = [];
afterAll(async () => {
  await deleteKeys(prefixes.map((prefix) => `{${prefix}}:*`));
  client.disconnect();
});

function store(options: { maxTasks?: number; ttl?: number } = {}) {
  const prefix = uniqueName('store');
  prefixes.push(prefix);
  return new RedisStore({ client, prefix, ...options });
}

storeContract('RedisStore', async ({ maxTasks }) => store({ maxTasks }), randomUUID);
listContract('RedisStore', async ({ maxTasks }) => store({ maxTasks }), randomUUID);
durableContract('RedisStore', async ({ maxTasks }) => store({ maxTasks }), randomUUID);
rewindContract('RedisStore', async ({ maxTasks }) => store({ maxTasks }), randomUUID);

describe('RedisStore', () => {
  it('lets Redis expire a finished task ttl after it finished, and frees its place', async () => {
    const tasks = store({ ttl: 50, maxTasks: 1 });
    const id = randomUUID();
    await tasks.create({ id, owner: 'o', createdAt: Date.now() });
    await tasks.start(id, Date.now());
    await tasks.finish(id, { status: 'succeeded', reply: { status: 200, headers: [], body: 'x' } }, Date.now());
    for (let i = 0; i < 500 && (await tasks.get(id)) !== undefined; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await tasks.get(id)).toBeUndefined();
    await tasks.create({ id: randomUUID(), owner: undefined, createdAt: Date.now() });
  });

  it('takes an expired task out of every index, with its key, its job and its idempotency key', async () => {
    const prefix = uniqueName('store');
    prefixes.push(prefix);
    const tasks = new RedisStore({ client, prefix, ttl: 50 });
    const id = randomUUID();
    const rerun = { job: { kind: 'call' as const, module: 'file:///m.js', exportName: 'default', input: 1, maxReplyBytes: 1 }, route: { timeout: undefined, readOnce: false, idempotency: 'optional' as const, retries: undefined, exportName: 'default', queueTimeout: undefined } };
    await tasks.create({ id, owner: 'o', createdAt: Date.now(), route: 'GET /r', url: '/r/apples', rerun, idempotency: { key: 'k', fingerprint: 'f' } });
    await tasks.start(id, Date.now());
    await tasks.progress(id, 0.5, 'peeling pears');
    await tasks.finish(id, { status: 'succeeded', reply: { status: 200, headers: [], body: 'x' } }, Date.now());
    expect((await tasks.list({ text: 'pears' })).tasks).toHaveLength(1);
    for (let i = 0; i < 500 && (await tasks.get(id)) !== undefined; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await tasks.counts()).toEqual({ queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 });
    // (The minute's activity stays its quarter hour.)
    expect((await client.keys(`{${prefix}}:*`)).filter((key) => !key.includes(':activity:'))).toEqual([]);
    await tasks.close();
  });

  it("keeps an idempotency key that a new task took from an expired one when the old one is swept", async () => {
    const tasks = store({ ttl: 50 });
    const idempotency = { key: randomUUID(), fingerprint: 'f' };
    const first = randomUUID();
    await tasks.create({ id: first, owner: undefined, createdAt: Date.now(), idempotency });
    await tasks.finish(first, { status: 'canceled' }, Date.now());
    for (let i = 0; i < 500 && (await tasks.get(first)) !== undefined; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const second = randomUUID();
    expect((await tasks.create({ id: second, owner: undefined, createdAt: Date.now(), idempotency })).id).toBe(second);
    await tasks.counts();
    expect((await tasks.create({ id: randomUUID(), owner: undefined, createdAt: Date.now(), idempotency })).id).toBe(second);
  });

  it('tells a watcher in another store (another process) of a change, and of the state it missed while subscribing', async () => {
    const prefix = uniqueName('store');
    prefixes.push(prefix);
    const web = new RedisStore({ client, prefix });
    const otherClient = new Redis(redisUrl);
    const worker = new RedisStore({ client: otherClient, prefix });
    const id = randomUUID();
    await web.create({ id, owner: undefined, createdAt: 1 });
    const seen: string[] = [];
    const stop = worker.watch(id, (task) => seen.push(task.status));
    await waitUntil(() => seen.length > 0);
    expect(seen).toEqual(['queued']);
    await web.finish(id, { status: 'canceled' }, 2);
    await waitUntil(() => seen.includes('canceled'));
    stop();
    expect(worker.watcherCount()).toBe(0);
    await worker.close();
    otherClient.disconnect();
  });

  it('lets one of two processes finish a task, whichever comes first', async () => {
    const tasks = store();
    const id = randomUUID();
    await tasks.create({ id, owner: undefined, createdAt: 1 });
    await tasks.start(id, 2);
    const outcomes = await Promise.all([
      tasks.finish(id, { status: 'canceled' }, 3),
      tasks.finish(id, { status: 'succeeded', reply: { status: 200, headers: [], body: undefined } }, 3),
    ]);
    expect(outcomes.filter(Boolean)).toHaveLength(1);
  });

  it('starts a running task again only when taking it over', async () => {
    const tasks = store();
    const id = randomUUID();
    await tasks.create({ id, owner: undefined, createdAt: 1 });
    expect(await tasks.start(id, 2)).toBe(true);
    expect(await tasks.start(id, 3)).toBe(false);
    expect(await tasks.start(id, 4, true)).toBe(true);
    expect((await tasks.get(id))?.startedAt).toBe(4);
  });

  it('names its bad options', () => {
    expect(() => new RedisStore({ client, ttl: 0 })).toThrow('RedisStore options.ttl must be a positive number of milliseconds or Infinity, got 0');
    expect(() => new RedisStore({ client, prefx: 'x' } as never)).toThrow('RedisStore options.prefx is not an option');
  });
});

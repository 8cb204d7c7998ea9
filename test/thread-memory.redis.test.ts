// The same in a BullMQ worker process: its one thread keeps nothing per task.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createAsyncApi, type AsyncApi } from 'express-async-api';
import { bullmqBackend } from 'express-async-api/bullmq';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heapOfThread, listen, submitMany } from './load.js';
import { deleteKeys, redisUrl, startFixture, uniqueName } from './redis.js';

const fixture = new URL('./fixtures/handlers/heap.mjs', import.meta.url);

describe('the worker thread of a BullMQ worker process', () => {
  const queue = uniqueName('memory');
  let tasks: AsyncApi;
  let base: string;
  let close: () => Promise<void>;
  let worker: ChildProcess;

  beforeAll(async () => {
    // One worker process with one thread: it takes the tasks in the order they came.
    const started = startFixture(fileURLToPath(new URL('./fixtures/scale-out/worker.mjs', import.meta.url)), [queue], { CONCURRENCY: '1' });
    worker = started.child;
    await started.first;
    tasks = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue }), ttl: 1_000, maxTasks: Infinity, maxWait: 180, onError: () => {} });
    const app = express();
    app.use(express.json());
    app.post('/trivial', tasks.asyncApi.worker(fixture));
    app.post('/heap', tasks.asyncApi.worker(fixture, { export: 'heap' }));
    app.use(tasks.router);
    ({ base, close } = await listen(app));
  });

  afterAll(async () => {
    await close();
    await tasks.close();
    worker.kill('SIGTERM');
    await once(worker, 'exit');
    await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
  });

  it('keeps less than 50 bytes per task over 20,000 tasks', { timeout: 300_000 }, async () => {
    await submitMany(`${base}/trivial`, 2_000);
    const before = await heapOfThread(`${base}/heap`);
    await submitMany(`${base}/trivial`, 20_000);
    const after = await heapOfThread(`${base}/heap`);
    expect((after - before) / 20_000).toBeLessThan(50);
  });
});

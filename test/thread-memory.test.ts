// A worker thread keeps nothing per task: its heap after a full collection is the same
// after 20,000 tasks as before them. (A MessagePort transferred for each task once left
// about 2 KB of each behind, until a thread with a memory limit failed ordinary tasks.)
import { createAsyncApi, type AsyncApi } from 'express-async-api';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heapOfThread, listen, submitMany } from './load.js';

const fixture = new URL('./fixtures/handlers/heap.mjs', import.meta.url);

describe('a worker thread of the pool', () => {
  let tasks: AsyncApi;
  let base: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    // One thread, which runs the tasks in the order they came: the heap task runs after them.
    tasks = createAsyncApi({ threads: { min: 1, max: 1 }, ttl: 1_000, maxTasks: Infinity, maxWait: 180, onError: () => {} });
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
  });

  it('keeps less than 50 bytes per task over 20,000 tasks', { timeout: 180_000 }, async () => {
    await submitMany(`${base}/trivial`, 2_000);
    const before = await heapOfThread(`${base}/heap`);
    await submitMany(`${base}/trivial`, 20_000);
    const after = await heapOfThread(`${base}/heap`);
    expect((after - before) / 20_000).toBeLessThan(50);
  });
});

// A worker task queued behind busy threads is a small record in the server process: its
// request snapshot and its task in the store, not a task's whole machinery. (Each once held
// a MessagePort and the runner's state from the moment it was submitted: 7.6 KB of heap.)
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createAsyncApi, type AsyncApi } from 'express-async-api';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { untilStatus } from './helpers.js';
import { listen, submitMany } from './load.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The heap after full collections, once it has stopped shrinking. */
function settledHeap(): number {
  let heap = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 10; round++) {
    gc();
    const now = process.memoryUsage().heapUsed;
    if (now >= heap) break;
    heap = now;
  }
  return heap;
}

describe('a worker task queued behind busy threads', () => {
  let tasks: AsyncApi;
  let app: express.Express;
  let base: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    tasks = createAsyncApi({ threads: { min: 2, max: 2 }, ttl: 600_000, maxTasks: Infinity, onError: () => {} });
    app = express();
    app.use(express.json());
    // Runs until canceled: the first two keep both threads busy, the rest stay queued.
    app.post('/waits', tasks.asyncApi.worker(new URL('./fixtures/handlers/waits.mjs', import.meta.url)));
    app.use(tasks.router);
    ({ base, close } = await listen(app));
  });

  afterAll(async () => {
    await close();
    await tasks.close({ timeout: 1 });
  });

  it('keeps less than 2 KB of heap per task over 5,000 of them', { timeout: 120_000 }, async () => {
    const busy = await Promise.all([1, 2].map(() => request(app).post('/waits')));
    for (const response of busy) await untilStatus(request(app), response.headers.location, 'running');
    await submitMany(`${base}/waits`, 500);
    const before = settledHeap();
    await submitMany(`${base}/waits`, 5_000);
    const after = settledHeap();
    const monitor = await request(app).get(busy[0]!.headers.location!);
    expect(monitor.body.status).toBe('running');
    expect((after - before) / 5_000).toBeLessThan(2_048);
  });
});

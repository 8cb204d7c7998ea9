// With no worker process for its queue, a web process says so, and a route's queueTimeout
// fails what waits too long instead of leaving it queued for ever.
import { createAsyncApi, InvalidOptionError, NoWorkerError, problemTypes, type AsyncApi } from 'express-async-api';
import { bullmqBackend, startWorker } from 'express-async-api/bullmq';
import { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { untilFinished } from './helpers.js';
import { deleteKeys, redisUrl, uniqueName } from './redis.js';

const echo = new URL('./fixtures/handlers/echo.mjs', import.meta.url);

/** Waits, yielding to the event loop, until `condition` holds; bounded. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 1_000; turn++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`${what} did not happen`);
}

describe('a queue without worker processes', () => {
  const queue = uniqueName('no-worker');
  const closing: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const close of closing.splice(0).reverse()) await close();
    await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
  });

  it('fails a task that waited queueTimeout ms with a 503 no-worker problem, and takes its job back', async () => {
    // exposeErrors: false, the default: a 5xx problem carries no message (as test/exposure.test.ts checks of the others).
    const errors: unknown[] = [];
    const tasks: AsyncApi = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue, workerCheckInterval: 0 }), onError: (error) => errors.push(error) });
    closing.push(() => tasks.close());
    const app = express();
    app.post('/echo', tasks.asyncApi.worker(echo, { queueTimeout: 50 }));
    app.use(tasks.router);
    const submitted = await request(app).post('/echo');
    expect(submitted.status).toBe(202);
    const done = await untilFinished(request(app), submitted.headers.location);
    expect(done.status).toBe(503);
    expect(done.body).toEqual({ type: problemTypes.noWorker, title: 'No worker took the task', status: 503, instance: submitted.headers.location });
    expect(errors).toEqual([expect.any(NoWorkerError)]);
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const inspect = new Queue(queue, { connection });
    closing.push(async () => {
      await inspect.close();
      connection.disconnect();
    });
    expect(await inspect.getJob(submitted.headers.location!.split('/').pop()!)).toBeUndefined();
  });

  it('is said once at start, and once when a worker process comes', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const tasks = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue, workerCheckInterval: 20 }), onError: () => {} });
    closing.push(() => tasks.close());
    await until(() => warn.mock.calls.length > 0, 'the warning of no worker');
    expect(warn.mock.calls).toEqual([
      [`express-async-api: no worker process takes tasks from queue "${queue}"; they stay queued until one starts (npx express-async-api worker --queue ${queue})`],
    ]);
    const worker = await startWorker({ connection: redisUrl, queue, onError: () => {} });
    closing.push(() => worker.close());
    await until(() => warn.mock.calls.length > 1, 'the news of a worker');
    expect(warn.mock.calls[1]).toEqual([`express-async-api: 1 worker process now takes tasks from queue "${queue}"`]);
    await worker.close();
    await until(() => warn.mock.calls.length > 2, 'the warning of no worker again');
    expect(warn.mock.calls[2]).toEqual(warn.mock.calls[0]);
  });

  it('queueTimeout is refused in memory, where a thread always takes the task, and must be a duration', () => {
    const tasks = createAsyncApi();
    closing.push(() => tasks.close());
    expect(() => tasks.asyncApi.worker(echo, { queueTimeout: 1_000 })).toThrow(InvalidOptionError);
    const queued = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue, workerCheckInterval: 0 }) });
    closing.push(() => queued.close());
    expect(() => queued.asyncApi.worker(echo, { queueTimeout: -1 })).toThrow('routeOptions.queueTimeout must be a positive number of milliseconds');
    expect(() => bullmqBackend({ connection: redisUrl, queue, workerCheckInterval: 'often' as never })).toThrow(InvalidOptionError);
  });
});

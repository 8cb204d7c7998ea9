// Retries of failed attempts: which failures, how long between, what the monitor shows, and
// that a cancel between attempts ends the task at once. In memory, inline and on threads.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAsyncApi, MemoryStore, memoryBackend, problemTypes, type AsyncApi, type TaskRequest } from 'express-async-api';
import express from 'express';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/core/runner.js';
import { untilFinished } from './helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'retries-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const flaky = new URL('./fixtures/handlers/flaky.mjs', import.meta.url);

let tasks: AsyncApi;
let store: MemoryStore;
afterEach(async () => {
  await tasks?.close({ timeout: 100 });
});

function setup(routes: (app: express.Express) => void) {
  store = new MemoryStore();
  tasks = createAsyncApi({ backend: memoryBackend({ store }), exposeErrors: true, threads: { max: 1, gracePeriod: 100 }, onError: () => {} });
  const app = express();
  app.use(express.json());
  routes(app);
  app.use(tasks.router);
  return app;
}

const fixed = (attempts: number, delay = 1) => ({ attempts, backoff: { type: 'fixed' as const, delay } });

describe('retries', () => {
  it('runs a failed attempt again, until one succeeds: the answer is that attempt\'s, its effects alone run', async () => {
    let calls = 0;
    const effects: number[] = [];
    const app = setup((app) =>
      app.post(
        '/h',
        tasks.asyncApi((req: TaskRequest, res) => {
          const call = ++calls;
          req.task.afterCommit(() => effects.push(call));
          if (call < 3) throw new Error(`attempt ${call} fails`);
          res.status(201).json({ call });
        }, { retries: fixed(3) }),
      ),
    );
    const submitted = await request(app).post('/h');
    expect(submitted.body).toMatchObject({ status: 'queued', attempt: 1, attempts: 3 });
    const done = await untilFinished(request(app), submitted.headers.location);
    expect(done.status).toBe(201);
    expect(done.body).toEqual({ call: 3 });
    for (let turn = 0; turn < 100 && effects.length === 0; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(effects).toEqual([3]);
    expect(await tasks.get(submitted.body.id)).toMatchObject({ status: 'succeeded', attempt: 3, attempts: 3 });
  });

  it('retries an answer with a 5xx status; the last attempt\'s answer stands', async () => {
    let calls = 0;
    const app = setup((app) => app.post('/h', tasks.asyncApi((_req, res) => {
      calls++;
      res.status(calls < 2 ? 503 : 502).send(`answer ${calls}`);
    }, { retries: fixed(3) })));
    const done = await untilFinished(request(app), (await request(app).post('/h')).headers.location);
    expect(done.status).toBe(502);
    expect(done.text).toBe('answer 3');
    expect(calls).toBe(3);
  });

  it('a failed attempt during close() is not retried after it: the task ends as shut down', async () => {
    let calls = 0;
    const app = setup((app) => app.post('/h', tasks.asyncApi((req: TaskRequest) => {
      calls++;
      return new Promise((_resolve, reject) => req.task.signal.addEventListener('abort', () => reject(new Error('cut off'))));
    }, { retries: { ...fixed(3), retryOn: () => true } })));
    const submitted = await request(app).post('/h');
    for (let polls = 0; polls < 1_000 && (await request(app).get(submitted.headers.location!)).body.status !== 'running'; polls++);
    await tasks.close({ timeout: 10 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls).toBe(1);
    expect((await request(app).get(submitted.headers.location!)).body.type).toBe(problemTypes.shuttingDown);
  });

  it('a retry the store cannot record fails the task instead of leaving it running', async () => {
    store = new MemoryStore();
    const broken = Object.assign(Object.create(store) as MemoryStore, { retry: () => Promise.reject(new Error('store down')) });
    for (const method of ['create', 'get', 'start', 'progress', 'finish', 'take', 'delete', 'watch', 'close'] as const) {
      (broken as unknown as Record<string, unknown>)[method] = (store[method] as (...args: unknown[]) => unknown).bind(store);
    }
    tasks = createAsyncApi({ backend: memoryBackend({ store: broken }), exposeErrors: true, onError: () => {} });
    const app = express();
    app.post('/h', tasks.asyncApi(() => {
      throw new Error('attempt fails');
    }, { retries: fixed(3) }));
    app.use(tasks.router);
    const done = await untilFinished(request(app), (await request(app).post('/h')).headers.location);
    expect(done.status).toBe(500);
    expect(done.body.detail).toBe('attempt fails');
  });

  it('answers the last attempt\'s failure when all fail', async () => {
    let calls = 0;
    const app = setup((app) => app.post('/h', tasks.asyncApi(() => {
      throw new Error(`attempt ${++calls} fails`);
    }, { retries: fixed(3) })));
    const done = await untilFinished(request(app), (await request(app).post('/h')).headers.location);
    expect(done.status).toBe(500);
    expect(done.body.detail).toBe('attempt 3 fails');
    expect(calls).toBe(3);
  });

  it('does not retry a 4xx, a timeout or a cancel; retryOn decides instead', async () => {
    const calls = { client: 0, slow: 0, slowRetried: 0 };
    const app = setup((app) => {
      app.post('/client', tasks.asyncApi(() => {
        calls.client++;
        throw Object.assign(new Error('bad input'), { status: 422 });
      }, { retries: fixed(3) }));
      app.post('/slow', tasks.asyncApi(() => {
        calls.slow++;
        return new Promise(() => {});
      }, { timeout: 10, retries: fixed(3) }));
      app.post('/slow-retried', tasks.asyncApi(() => {
        calls.slowRetried++;
        return new Promise(() => {});
      }, { timeout: 10, retries: { ...fixed(2), retryOn: (error) => (error as Error).name === 'TaskTimeoutError' } }));
    });
    expect((await untilFinished(request(app), (await request(app).post('/client')).headers.location)).status).toBe(422);
    expect((await untilFinished(request(app), (await request(app).post('/slow')).headers.location)).status).toBe(504);
    const retried = await untilFinished(request(app), (await request(app).post('/slow-retried')).headers.location);
    expect(retried.status).toBe(504);
    expect(retried.body.type).toBe(problemTypes.taskTimedOut);
    expect(calls).toEqual({ client: 1, slow: 1, slowRetried: 2 });
  });

  it('between attempts the task is running, with its next attempt\'s time; a cancel then ends it at once', async () => {
    let calls = 0;
    const app = setup((app) => app.post('/h', tasks.asyncApi(() => {
      calls++;
      throw new Error('down');
    }, { retries: fixed(3, 60_000) })));
    const submitted = await request(app).post('/h');
    let monitor;
    for (let polls = 0; polls < 1_000; polls++) {
      monitor = await request(app).get(submitted.headers.location!);
      if (monitor.body.retryAt !== undefined) break;
    }
    expect(monitor!.status).toBe(202);
    expect(monitor!.body).toMatchObject({ status: 'running', attempt: 2, attempts: 3 });
    const retryAt = Date.parse(monitor!.body.retryAt);
    expect(retryAt - Date.now()).toBeGreaterThan(50_000);
    expect(store.watcherCount(submitted.body.id)).toBe(1);
    expect((await request(app).delete(submitted.headers.location!)).body.status).toBe('canceled');
    expect(store.watcherCount(submitted.body.id)).toBe(0);
    expect((await request(app).get(submitted.headers.location!)).status).toBe(409);
    expect(calls).toBe(1);
  });

  it('close() ends a task waiting for its next attempt as shut down', async () => {
    const app = setup((app) => app.post('/h', tasks.asyncApi(() => {
      throw new Error('down');
    }, { retries: fixed(2, 60_000) })));
    const submitted = await request(app).post('/h');
    for (let polls = 0; polls < 1_000; polls++) if ((await request(app).get(submitted.headers.location!)).body.retryAt !== undefined) break;
    await tasks.close({ timeout: 10 });
    const monitor = await request(app).get(submitted.headers.location!);
    expect(monitor.status).toBe(503);
    expect(monitor.body.type).toBe(problemTypes.shuttingDown);
  });

  it('retries a worker module whose thread crashed, and one that threw; the last attempt\'s effects alone run', async () => {
    const app = setup((app) => app.post('/flaky', tasks.asyncApi.worker(flaky, { retries: fixed(3) })));
    const file = join(scratch, 'crashes');
    const crashed = await untilFinished(request(app), (await request(app).post('/flaky').send({ file, failures: 1, exit: true })).headers.location);
    expect(crashed.body).toEqual({ runs: 2 });
    const threw = join(scratch, 'throws');
    const done = await untilFinished(request(app), (await request(app).post('/flaky').send({ file: threw, failures: 2 })).headers.location);
    expect(done.body).toEqual({ runs: 3 });
    for (let turn = 0; turn < 1_000 && !existsSync(`${threw}.effects`); turn++) await new Promise((resolve) => setTimeout(resolve, 2));
    expect(readFileSync(`${threw}.effects`, 'utf8')).toBe('3');
  });

  it('define() takes retries too, as a number of retries', async () => {
    setup(() => {});
    let calls = 0;
    const handle = await tasks.define('flaky', () => {
      if (++calls < 3) throw new Error('not yet');
      return calls;
    }, { retries: { attempts: 3, backoff: { type: 'fixed', delay: 1 } } }).submit(null);
    expect(await handle.result()).toBe(3);
    expect(() => tasks.define('n', () => 1, { retries: 2 })).not.toThrow();
  });

  it('waits fixed or doubling times, shortened by up to jitter', () => {
    const policy = (type: 'fixed' | 'exponential', jitter = 0) => ({ attempts: 5, backoff: { type, delay: 100, jitter }, retryOn: undefined });
    expect([1, 2, 3].map((n) => backoffDelay(policy('fixed'), n))).toEqual([100, 100, 100]);
    expect([1, 2, 3, 4].map((n) => backoffDelay(policy('exponential'), n))).toEqual([100, 200, 400, 800]);
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(policy('exponential', 0.5), 2);
      expect(delay).toBeGreaterThanOrEqual(100);
      expect(delay).toBeLessThanOrEqual(200);
    }
  });

  it('names bad retry options', () => {
    setup(() => {});
    const wrap = (retries: unknown) => () => tasks.asyncApi(() => 1, { retries: retries as never });
    expect(wrap(-1)).toThrow('routeOptions.retries must be a whole number of retries');
    expect(wrap({ attempts: 0 })).toThrow('routeOptions.retries.attempts must be a whole number');
    expect(wrap({ attempts: 2, backoff: { type: 'linear', delay: 1 } })).toThrow("routeOptions.retries.backoff.type must be 'fixed' or 'exponential'");
    expect(wrap({ attempts: 2, backoff: { type: 'fixed', delay: 1, jitter: 2 } })).toThrow('jitter must be a fraction from 0 to 1');
    expect(wrap({ attempts: 2, retryOn: 'yes' })).toThrow('routeOptions.retries.retryOn');
    expect(wrap({ attempts: 2, tries: 3 })).toThrow('tries');
  });
});

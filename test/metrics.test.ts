// Prometheus metrics (express-async-api/metrics) against prom-client's own registry.
import type { Server } from 'node:http';
import express from 'express';
import { createAsyncApi, InvalidOptionError, MemoryStore, memoryBackend, StoreUnavailableError, type AsyncApi } from 'express-async-api';
import { startWorker } from 'express-async-api/bullmq';
import { asyncApiMetrics } from 'express-async-api/metrics';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deferred, openEvents } from './helpers.js';

let tasks: AsyncApi | undefined;
let server: Server | undefined;
afterEach(async () => {
  vi.useRealTimers();
  server?.close();
  server = undefined;
  await tasks?.close({ timeout: 100 });
  tasks = undefined;
});

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  return (await metric.get()).values as Sample[];
}

/** The value of a metric's sample with exactly these labels (a histogram's `_count` and `_sum` by `metricName`); undefined when there is none. */
async function value(registry: Registry, name: string, labels: Record<string, string> = {}, metricName = name): Promise<number | undefined> {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  const found = (await samples(registry, name)).find(
    (sample) => (sample.metricName ?? name) === metricName && JSON.stringify(Object.entries(sample.labels).filter(([key]) => key !== 'le').sort()) === wanted,
  );
  return found?.value;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

async function until(what: () => Promise<boolean>, turns = 1_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (await what()) return;
    await turn();
  }
  throw new Error('the condition never held');
}

function listen(app: express.Express): Promise<string> {
  return new Promise((resolve) => {
    server = app.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server!.address() as { port: number }).port}`));
  });
}

describe('asyncApiMetrics()', () => {
  it('counts a known set of tasks exactly, by route and status, and times their queue and run', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const registry = new Registry();
    tasks = createAsyncApi({ metrics: asyncApiMetrics({ registry }), onError: () => {} });
    const gate = deferred();
    const ok = tasks.define('ok', async () => {
      await gate.promise;
      return 1;
    });
    const bad = tasks.define('bad', async () => {
      throw new Error('no');
    });
    const slow = tasks.define('slow', () => new Promise(() => {}), { timeout: 1_000 });
    const held = tasks.define('held', () => new Promise(() => {}));

    const oks = [await ok.submit(1), await ok.submit(2), await ok.submit(3)];
    const failed = await bad.submit(0);
    await slow.submit(0);
    const canceled = await held.submit(0);
    expect(await value(registry, 'async_api_tasks_submitted_total', { route: 'ok' })).toBe(3);
    await expect(failed.result()).rejects.toThrow('no');
    await until(async () => (await value(registry, 'async_api_tasks', { status: 'running' })) === 5);
    expect(await value(registry, 'async_api_tasks', { status: 'queued' })).toBe(0);
    expect(await value(registry, 'async_api_tasks', { status: 'held' })).toBe(6);

    await vi.advanceTimersByTimeAsync(1_000);
    await until(async () => (await value(registry, 'async_api_tasks_finished_total', { route: 'slow', status: 'timed_out' })) === 1);
    await vi.advanceTimersByTimeAsync(1_000);
    await tasks.cancel(canceled.id);
    gate.resolve();
    for (const handle of oks) await handle.result();

    for (const [route, n] of [['ok', 3], ['bad', 1], ['slow', 1], ['held', 1]] as const) {
      expect(await value(registry, 'async_api_tasks_submitted_total', { route })).toBe(n);
    }
    const finished = (await samples(registry, 'async_api_tasks_finished_total')).map(({ labels, value: n }) => [labels.route, labels.status, n]);
    expect(finished.sort()).toEqual([
      ['bad', 'failed', 1],
      ['held', 'canceled', 1],
      ['ok', 'succeeded', 3],
      ['slow', 'timed_out', 1],
    ]);
    const run = 'async_api_task_run_seconds';
    expect(await value(registry, run, { route: 'ok', status: 'succeeded' }, `${run}_count`)).toBe(3);
    expect(await value(registry, run, { route: 'ok', status: 'succeeded' }, `${run}_sum`)).toBe(6);
    expect(await value(registry, run, { route: 'slow', status: 'timed_out' }, `${run}_sum`)).toBe(1);
    expect(await value(registry, run, { route: 'held', status: 'canceled' }, `${run}_sum`)).toBe(2);
    expect(await value(registry, run, { route: 'bad', status: 'failed' }, `${run}_sum`)).toBe(0);
    // Two seconds falls in the bucket up to 2.5 s and not in the one up to 1 s.
    const buckets = (await samples(registry, run)).filter((sample) => sample.metricName === `${run}_bucket` && sample.labels.route === 'ok');
    expect(buckets.find((sample) => sample.labels.le === 1)?.value).toBe(0);
    expect(buckets.find((sample) => sample.labels.le === 2.5)?.value).toBe(3);
    const queue = 'async_api_task_queue_seconds';
    expect(await value(registry, queue, { route: 'ok' }, `${queue}_count`)).toBe(3);
    expect(await value(registry, queue, { route: 'ok' }, `${queue}_sum`)).toBe(0);
    expect(await value(registry, 'async_api_tasks', { status: 'running' })).toBe(0);
    expect(await value(registry, 'async_api_tasks', { status: 'held' })).toBe(6);
  });

  it('counts refused submits by reason: limit, store_unavailable, shutting_down', async () => {
    const registry = new Registry();
    const metrics = asyncApiMetrics({ registry });
    tasks = createAsyncApi({ metrics, maxTasks: 1, onError: () => {} });
    const wait = tasks.define('wait', () => new Promise(() => {}));
    await wait.submit(0);
    await expect(wait.submit(0)).rejects.toThrow('task');
    expect(await value(registry, 'async_api_tasks_rejected_total', { route: 'wait', reason: 'limit' })).toBe(1);
    await tasks.close({ timeout: 1 });
    await expect(wait.submit(0)).rejects.toThrow('shutting down');
    expect(await value(registry, 'async_api_tasks_rejected_total', { route: 'wait', reason: 'shutting_down' })).toBe(1);

    const store = new MemoryStore();
    store.create = () => Promise.reject(new StoreUnavailableError());
    tasks = createAsyncApi({ metrics, backend: memoryBackend({ store }) });
    await expect(tasks.define('down', () => 1).submit(0)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await value(registry, 'async_api_tasks_rejected_total', { route: 'down', reason: 'store_unavailable' })).toBe(1);
    expect(await value(registry, 'async_api_tasks_submitted_total', { route: 'down' })).toBeUndefined();
  });

  it('labels 1,000 distinct paths of one route with the one route pattern', async () => {
    const registry = new Registry();
    tasks = createAsyncApi({ metrics: asyncApiMetrics({ registry }) });
    const app = express();
    const items = express.Router();
    items.post('/:id', tasks.asyncApi((req) => ({ id: req.params.id })));
    app.use('/items', items);
    app.use(tasks.router);
    const base = await listen(app);
    for (let i = 0; i < 1_000; i++) {
      const response = await fetch(`${base}/items/${i}?page=${i}`, { method: 'POST' });
      expect(response.status).toBe(202);
      await response.arrayBuffer();
    }
    await until(async () => (await value(registry, 'async_api_tasks_finished_total', { route: 'POST /items/:id', status: 'succeeded' })) === 1_000);
    for (const name of ['async_api_tasks_submitted_total', 'async_api_tasks_finished_total', 'async_api_task_run_seconds', 'async_api_task_queue_seconds']) {
      const routes = new Set((await samples(registry, name)).map((sample) => sample.labels.route));
      expect([...routes]).toEqual(['POST /items/:id']);
    }
    expect(await value(registry, 'async_api_tasks_submitted_total', { route: 'POST /items/:id' })).toBe(1_000);
  });

  it('counts monitor reads by kind, and the waits and event streams held open', async () => {
    const registry = new Registry();
    tasks = createAsyncApi({ metrics: asyncApiMetrics({ registry }) });
    const gate = deferred();
    const app = express();
    app.post('/r', tasks.asyncApi(async () => {
      await gate.promise;
      return { done: true };
    }));
    app.use(tasks.router);
    const base = await listen(app);
    const submitted = await fetch(`${base}/r`, { method: 'POST' });
    const monitor = submitted.headers.get('location')!;
    expect((await fetch(base + monitor)).status).toBe(202);
    expect(await value(registry, 'async_api_monitor_requests_total', { kind: 'poll' })).toBe(1);

    const waiting = fetch(base + monitor, { headers: { Prefer: 'wait=30' } });
    const stream = openEvents(server!, monitor);
    await until(async () => (await value(registry, 'async_api_monitor_waits')) === 1 && (await value(registry, 'async_api_monitor_streams')) === 1);
    expect(await value(registry, 'async_api_monitor_requests_total', { kind: 'wait' })).toBe(1);
    expect(await value(registry, 'async_api_monitor_requests_total', { kind: 'events' })).toBe(1);
    gate.resolve();
    expect((await waiting).status).toBe(200);
    await stream.ended;
    expect(stream.events.at(-1)?.event).toBe('done');
    await until(async () => (await value(registry, 'async_api_monitor_waits')) === 0 && (await value(registry, 'async_api_monitor_streams')) === 0);
    expect(await value(registry, 'async_api_monitor_requests_total', { kind: 'poll' })).toBe(1);
  });

  it('shows the thread pool: its threads, utilization and queue', async () => {
    const registry = new Registry();
    tasks = createAsyncApi({ metrics: asyncApiMetrics({ registry }), threads: { min: 1, max: 1 } });
    expect(await value(registry, 'async_api_threads')).toBe(0);
    const echo = tasks.define('echo', new URL('./fixtures/handlers/calls.mjs', import.meta.url));
    await (await echo.submit({ numbers: [1, 2] })).result();
    expect(await value(registry, 'async_api_threads')).toBe(1);
    expect(await value(registry, 'async_api_thread_queue')).toBe(0);
    const utilization = await value(registry, 'async_api_thread_utilization');
    expect(utilization).toBeGreaterThanOrEqual(0);
    expect(utilization).toBeLessThanOrEqual(1);
    expect(await value(registry, 'async_api_tasks_finished_total', { route: 'echo', status: 'succeeded' })).toBe(1);
  });

  it('sums the gauges of every createAsyncApi() that shares it, and drops one once closed', async () => {
    const registry = new Registry();
    const metrics = asyncApiMetrics({ registry });
    const one = createAsyncApi({ metrics });
    tasks = createAsyncApi({ metrics });
    await one.define('a', () => new Promise(() => {})).submit(0);
    await tasks.define('b', () => new Promise(() => {})).submit(0);
    expect(await value(registry, 'async_api_tasks', { status: 'held' })).toBe(2);
    await one.close({ timeout: 1 });
    expect(await value(registry, 'async_api_tasks', { status: 'held' })).toBe(1);
  });
});

describe('metrics options', () => {
  const cases: [string, () => unknown, string][] = [
    ['a registry that is not one', () => asyncApiMetrics({ registry: {} as never }), 'asyncApiMetrics options.registry must be a prom-client Registry, got an object'],
    ['buckets out of order', () => asyncApiMetrics({ registry: new Registry(), buckets: [1, 0.5] }), 'asyncApiMetrics options.buckets must be a list of increasing positive numbers of seconds, got an array'],
    ['an unknown option', () => asyncApiMetrics({ registry: new Registry(), prefix: 'x' } as never), 'asyncApiMetrics options.prefix is not an option; the options are registry, buckets'],
    ['metrics that are not asyncApiMetrics()', () => createAsyncApi({ metrics: new Registry() as never }), 'options.metrics must be what asyncApiMetrics() of express-async-api/metrics returns, got an object'],
    ['tracing that is not a boolean', () => createAsyncApi({ tracing: 'on' as never }), 'options.tracing must be true or false, got "on"'],
  ];
  it.each(cases)('rejects %s', (_what, make, message) => {
    expect(make).toThrow(InvalidOptionError);
    expect(make).toThrow(message);
  });

  it('checks the metrics and tracing options of startWorker() before it connects', async () => {
    const connection = 'redis://127.0.0.1:1';
    await expect(startWorker({ connection, queue: 'q', metrics: {} as never })).rejects.toThrow(
      'startWorker options.metrics must be what asyncApiMetrics() of express-async-api/metrics returns, got an object',
    );
    await expect(startWorker({ connection, queue: 'q', tracing: 1 as never })).rejects.toThrow('startWorker options.tracing must be true or false, got 1');
  });

  it('refuses a second asyncApiMetrics() on one registry', () => {
    const registry = new Registry();
    asyncApiMetrics({ registry });
    expect(() => asyncApiMetrics({ registry })).toThrow('asyncApiMetrics options.registry holds the metrics of another asyncApiMetrics() already');
  });
});

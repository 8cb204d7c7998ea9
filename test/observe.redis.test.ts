// Metrics and traces across a web process (this one, with bullmqBackend) and a worker process.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { createAsyncApi, type AsyncApi } from 'express-async-api';
import { bullmqBackend } from 'express-async-api/bullmq';
import { asyncApiMetrics } from 'express-async-api/metrics';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { plain, registerSdk } from './fixtures/tracing/sdk.mjs';
import { listenTraced } from './traced-app.js';
import { deleteKeys, redisUrl, startFixture, uniqueName } from './redis.js';

type PlainSpan = ReturnType<typeof plain>;

const exporter = registerSdk();
const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const traced = new URL('./fixtures/tracing/traced.mjs', import.meta.url);

let tasks: AsyncApi | undefined;
let server: Server | undefined;
let worker: ChildProcess | undefined;
let queue: string;
afterEach(async () => {
  server?.close();
  server = undefined;
  await tasks?.close({ timeout: 100 });
  tasks = undefined;
  if (worker !== undefined && worker.exitCode === null) {
    const exited = once(worker, 'exit');
    worker.kill('SIGTERM');
    await exited;
  }
  worker = undefined;
  await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
}, 30_000);

async function web(setup: (app: express.Express) => void): Promise<string> {
  const started = await listenTraced(setup);
  server = started.server;
  return started.base;
}

async function final(url: string): Promise<Response> {
  for (let polls = 0; polls < 30; polls++) {
    const response = await fetch(url, { headers: { Prefer: 'wait=5' } });
    if (response.status !== 202) return response;
    await response.arrayBuffer();
  }
  throw new Error(`${url} did not finish`);
}

describe('BullMQ', () => {
  it('traces submit (web process) → task (worker process) → the handler\'s span (its thread): one trace', async () => {
    queue = uniqueName('traces');
    const started = startFixture(fileURLToPath(new URL('./fixtures/tracing/worker.mjs', import.meta.url)), [queue]);
    worker = started.child;
    const fromWorker: PlainSpan[] = [];
    let output = '';
    worker.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const lines = output.split('\n');
      output = lines.pop()!;
      for (const line of lines) if (line.startsWith('{"span"')) fromWorker.push((JSON.parse(line) as { span: PlainSpan }).span);
    });
    await started.first;
    tasks = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue, workerCheckInterval: 0 }) });
    const base = await web((app) => {
      app.post('/thumbnails', tasks!.asyncApi.worker(traced));
      app.use(tasks!.router);
    });
    const submitted = await fetch(`${base}/thumbnails`, { method: 'POST' });
    const id = ((await submitted.json()) as { id: string }).id;
    const answer = await final(base + submitted.headers.get('location')!);
    expect(answer.status).toBe(200);
    const { spans: onThread } = (await answer.json()) as { spans: PlainSpan[] };
    for (let turn = 0; turn < 10_000 && !fromWorker.some((span) => span.name.startsWith('async-api.task')); turn++) await new Promise((resolve) => setImmediate(resolve));

    const local = exporter.getFinishedSpans().map((span) => plain(span));
    const submit = local.find((span) => span.name === 'submit')!;
    const task = fromWorker.find((span) => span.name === 'async-api.task POST /thumbnails')!;
    expect(task.traceId).toBe(submit.traceId);
    expect(task.parentSpanId).toBe(submit.spanId);
    expect(task.attributes).toMatchObject({ 'async_api.task.id': id, 'async_api.route': 'POST /thumbnails', 'async_api.task.outcome': 'succeeded' });
    expect(onThread.map((span) => [span.name, span.traceId, span.parentSpanId])).toEqual([['work', submit.traceId, task.spanId]]);
    // The web process never ran the task: its reads link to the span that submitted it.
    const reads = local.filter((span) => span.name === 'async-api.monitor');
    expect(reads.length).toBeGreaterThan(0);
    for (const read of reads) expect(read.links).toEqual([submit.spanId]);
  }, 30_000);

  it('counts the submit in the web process and the run in the worker process, served on --metrics-port', async () => {
    queue = uniqueName('metrics');
    worker = spawn(process.execPath, [cli, 'worker', '--redis', redisUrl, '--queue', queue, '--allow', 'test/fixtures', '--metrics-port', '0', '--metrics-host', '127.0.0.1'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      worker!.once('exit', (code) => reject(new Error(`the worker exited with ${code}`)));
      worker!.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('taking tasks')) resolve();
      });
    });
    const port = Number(/metrics on port (\d+), GET \/metrics/.exec(output)?.[1]);
    const scrape = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      return response.text();
    };
    expect(await scrape()).toContain('# TYPE async_api_tasks_submitted_total counter');

    const registry = new Registry();
    tasks = createAsyncApi({ metrics: asyncApiMetrics({ registry }), backend: bullmqBackend({ connection: redisUrl, queue, workerCheckInterval: 0 }) });
    const base = await web((app) => {
      app.post('/thumbnails', tasks!.asyncApi.worker(traced));
      app.use(tasks!.router);
    });
    for (let n = 0; n < 3; n++) {
      const submitted = await fetch(`${base}/thumbnails`, { method: 'POST' });
      expect((await final(base + submitted.headers.get('location')!)).status).toBe(200);
    }
    const webSide = await registry.getSingleMetric('async_api_tasks_submitted_total')!.get();
    expect(webSide.values).toEqual([{ labels: { route: 'POST /thumbnails' }, value: 3 }]);
    expect((await registry.getSingleMetric('async_api_tasks_finished_total')!.get()).values).toEqual([]);
    expect((await registry.getSingleMetric('async_api_tasks')!.get()).values).toEqual([{ labels: { status: 'queued' }, value: 0 }]);

    const text = await scrape();
    expect(text).toContain('async_api_tasks_finished_total{route="POST /thumbnails",status="succeeded"} 3');
    expect(text).toContain('async_api_task_run_seconds_count{route="POST /thumbnails",status="succeeded"} 3');
    expect(text).toContain('async_api_task_queue_seconds_count{route="POST /thumbnails"} 3');
    expect(text).toContain('async_api_tasks{status="running"} 0');
    expect(text).toContain('async_api_threads 1');
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  }, 30_000);
});

// Traces on @opentelemetry/api, recorded by the SDK's in-memory exporter: submit → task → a
// span the handler makes, inline and on a worker thread; the monitor's reads.
import type { Server } from 'node:http';
import { trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import express from 'express';
import { createAsyncApi, type AsyncApi } from 'express-async-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { plain, registerSdk } from './fixtures/tracing/sdk.mjs';
import { listenTraced } from './traced-app.js';
import { deferred, openEvents } from './helpers.js';

const exporter = registerSdk();
const tracer = trace.getTracer('test');
const traced = new URL('./fixtures/tracing/traced.mjs', import.meta.url);

type PlainSpan = ReturnType<typeof plain>;

let tasks: AsyncApi | undefined;
let server: Server | undefined;
beforeEach(() => exporter.reset());
afterEach(async () => {
  server?.close();
  server = undefined;
  await tasks?.close({ timeout: 100 });
  tasks = undefined;
});

const spans = (): PlainSpan[] => exporter.getFinishedSpans().map((span: ReadableSpan) => plain(span));
const named = (name: string): PlainSpan => {
  const found = spans().filter((span) => span.name === name);
  expect(found.map((span) => span.name)).toEqual([name]);
  return found[0]!;
};

async function tracedApp(setup: (app: express.Express) => void): Promise<string> {
  const started = await listenTraced(setup);
  server = started.server;
  return started.base;
}

async function untilSpan(name: string): Promise<void> {
  for (let turn = 0; turn < 1_000; turn++) {
    if (spans().some((span) => span.name === name)) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`no span ${name}`);
}

describe('traces', () => {
  it('inline: the task is a child of its submit, and what the handler makes a child of the task', async () => {
    tasks = createAsyncApi();
    const gate = deferred();
    const base = await tracedApp((app) => {
      app.post('/reports/:kind', tasks!.asyncApi(async (req) => {
        req.task.progress(0.5, 'querying');
        await gate.promise;
        await tracer.startActiveSpan('db', async (span) => span.end());
        return { kind: req.params.kind };
      }));
      app.use(tasks!.router);
    });
    const submitted = await fetch(`${base}/reports/monthly`, { method: 'POST' });
    const id = ((await submitted.json()) as { id: string }).id;
    gate.resolve();
    await untilSpan('async-api.task POST /reports/:kind');
    const final = await fetch(base + submitted.headers.get('location')!);
    expect(final.status).toBe(200);
    await untilSpan('read');

    const submit = named('submit');
    const task = named('async-api.task POST /reports/:kind');
    const db = named('db');
    expect(task.parentSpanId).toBe(submit.spanId);
    expect(db.parentSpanId).toBe(task.spanId);
    expect(new Set([submit.traceId, task.traceId, db.traceId]).size).toBe(1);
    expect(task.attributes).toEqual({
      'async_api.task.id': id,
      'async_api.route': 'POST /reports/:kind',
      'async_api.task.attempt': 1,
      'async_api.task.outcome': 'succeeded',
    });
    expect(task.events).toEqual([
      { name: 'started', attributes: {} },
      { name: 'progress', attributes: { fraction: 0.5, message: 'querying' } },
    ]);
  });

  it('a read of the monitor is a span with the task id, linked to the task span; the request span gets the id too', async () => {
    tasks = createAsyncApi();
    const gate = deferred();
    const base = await tracedApp((app) => {
      app.post('/r', tasks!.asyncApi(async () => {
        await gate.promise;
        return { ok: true };
      }));
      app.use(tasks!.router);
    });
    const submitted = await fetch(`${base}/r`, { method: 'POST' });
    const monitor = submitted.headers.get('location')!;
    const id = ((await submitted.json()) as { id: string }).id;
    await untilSpan('submit');
    expect((await fetch(base + monitor)).status).toBe(202);
    const stream = openEvents(server!, monitor);
    await untilSpan('async-api.monitor');
    gate.resolve();
    await stream.ended;
    await untilSpan('async-api.task POST /r');
    const task = named('async-api.task POST /r');
    const reads = spans().filter((span) => span.name === 'async-api.monitor');
    expect(reads.map((span) => span.attributes)).toEqual([
      { 'async_api.task.id': id, 'async_api.monitor.kind': 'poll' },
      { 'async_api.task.id': id, 'async_api.monitor.kind': 'events' },
    ]);
    // The task runs (it waits for the gate) from the turn after its submit: both link to its span.
    expect(reads[0]!.links).toEqual([task.spanId]);
    expect(reads[1]!.links).toEqual([task.spanId]);
    for (const read of reads) expect(read.traceId).not.toBe(task.traceId);
    const requestSpans = spans().filter((span) => span.name === 'read');
    expect(requestSpans.map((span) => span.attributes['async_api.task.id'])).toEqual([id, id]);
  });

  it('on a worker thread: the job carries the task span\'s context, and the handler\'s span there is its child', async () => {
    tasks = createAsyncApi({ threads: { max: 1 } });
    const base = await tracedApp((app) => {
      app.post('/thumbnails', tasks!.asyncApi.worker(traced));
      app.use(tasks!.router);
    });
    const submitted = await fetch(`${base}/thumbnails`, { method: 'POST' });
    const location = submitted.headers.get('location')!;
    let answer: Response | undefined;
    for (let polls = 0; polls < 100; polls++) {
      answer = await fetch(base + location, { headers: { Prefer: 'wait=5' } });
      if (answer.status !== 202) break;
    }
    expect(answer!.status).toBe(200);
    const { spans: onThread } = (await answer!.json()) as { spans: PlainSpan[] };
    await untilSpan('async-api.task POST /thumbnails');
    const submit = named('submit');
    const task = named('async-api.task POST /thumbnails');
    expect(task.parentSpanId).toBe(submit.spanId);
    expect(onThread.map((span) => span.name)).toEqual(['work']);
    expect(onThread[0]!.parentSpanId).toBe(task.spanId);
    expect(onThread[0]!.traceId).toBe(submit.traceId);
    // (Its progress travels on another channel than its end, and may come after the span ended.)
    expect(task.events.map((event) => event.name)[0]).toBe('started');
  });

  it('a task from code: its span is a child of the span active at submit(); a module task\'s thread span its child', async () => {
    tasks = createAsyncApi({ threads: { max: 1 } });
    const inline = tasks.define('inline', async () => {
      await tracer.startActiveSpan('inside', async (span) => span.end());
      return 1;
    });
    const onThread = tasks.define('on-thread', traced, { export: 'call' });
    let result: { spans: PlainSpan[] } | undefined;
    await tracer.startActiveSpan('cron', async (span) => {
      await (await inline.submit(0)).result();
      result = (await (await onThread.submit(0)).result()) as { spans: PlainSpan[] };
      span.end();
    });
    await untilSpan('async-api.task on-thread');
    const cron = named('cron');
    const first = named('async-api.task inline');
    const second = named('async-api.task on-thread');
    expect(first.parentSpanId).toBe(cron.spanId);
    expect(second.parentSpanId).toBe(cron.spanId);
    expect(named('inside').parentSpanId).toBe(first.spanId);
    expect(result!.spans[0]!.parentSpanId).toBe(second.spanId);
  });

  it('ends the span with the outcome: failed (with the error), timed out, each attempt of a retried task its own span', async () => {
    tasks = createAsyncApi({ onError: () => {} });
    let calls = 0;
    const flaky = tasks.define('flaky', async () => {
      calls++;
      if (calls === 1) throw new Error('first attempt fails');
      return calls;
    }, { retries: { attempts: 2, backoff: { type: 'fixed', delay: 1 } } });
    const failing = tasks.define('failing', async () => {
      throw new Error('broken');
    });
    const slow = tasks.define('slow', (_input, task) => new Promise((_resolve, reject) => task.signal.addEventListener('abort', () => reject(task.signal.reason))), { timeout: 1 });
    await tracer.startActiveSpan('script', async (span) => {
      expect(await (await flaky.submit(0)).result()).toBe(2);
      await expect((await failing.submit(0)).result()).rejects.toThrow();
      await expect((await slow.submit(0)).result()).rejects.toThrow();
      span.end();
    });
    await untilSpan('async-api.task slow');
    const attempts = exporter.getFinishedSpans().filter((span) => span.name === 'async-api.task flaky');
    expect(attempts.map((span) => [span.attributes['async_api.task.attempt'], span.attributes['async_api.task.outcome']])).toEqual([
      [1, 'retried'],
      [2, 'succeeded'],
    ]);
    expect(attempts[0]!.events.map((event) => event.name)).toEqual(['started', 'exception']);
    const failed = exporter.getFinishedSpans().find((span) => span.name === 'async-api.task failing')!;
    expect(failed.attributes['async_api.task.outcome']).toBe('failed');
    expect(failed.status).toEqual({ code: 2, message: 'broken' });
    const timedOut = exporter.getFinishedSpans().find((span) => span.name === 'async-api.task slow')!;
    expect(timedOut.attributes['async_api.task.outcome']).toBe('timed_out');
    expect(timedOut.status.code).toBe(2);
    const script = named('script');
    for (const span of [...attempts, failed, timedOut]) expect(span.parentSpanContext?.spanId).toBe(script.spanId);
  });

  it('traces nothing with tracing: false', async () => {
    tasks = createAsyncApi({ tracing: false });
    const base = await tracedApp((app) => {
      app.post('/r', tasks!.asyncApi(() => ({ ok: true })));
      app.use(tasks!.router);
    });
    const submitted = await fetch(`${base}/r`, { method: 'POST' });
    await tasks.wait(((await submitted.json()) as { id: string }).id);
    expect((await fetch(base + submitted.headers.get('location')!)).status).toBe(200);
    await untilSpan('read');
    expect(spans().map((span) => span.name).sort()).toEqual(['read', 'submit']);
  });
});

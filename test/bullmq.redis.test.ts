import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAsyncApi, InvalidOptionError, problemTypes, type AsyncApi } from 'express-async-api';
import { bullmqBackend, startWorker, type TaskWorker } from 'express-async-api/bullmq';
import { waitForTask } from 'express-async-api/client';
import express, { type Express } from 'express';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEvents, untilFinished, untilStatus } from './helpers.js';
import { listen } from './load.js';
import { deleteKeys, redisUrl, uniqueName } from './redis.js';

const handlers = new URL('./fixtures/handlers/', import.meta.url);
const module = (name: string) => new URL(name, handlers);
const scratch = mkdtempSync(join(tmpdir(), 'bullmq-'));
const forbiddenMarker = join(scratch, 'forbidden-imported');

async function untilFile(path: string): Promise<string> {
  for (let turn = 0; turn < 5_000 && !existsSync(path); turn++) await new Promise((resolve) => setTimeout(resolve, 2));
  return readFileSync(path, 'utf8');
}

describe('bullmqBackend() and startWorker()', () => {
  const queue = uniqueName('queue');
  let tasks: AsyncApi;
  let worker: TaskWorker;
  let app: Express;

  beforeAll(async () => {
    process.env.FORBIDDEN_MARKER = forbiddenMarker;
    // exposeErrors: the tests read what went wrong in the problems' details.
    tasks = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue }), owner: (req) => req.get('x-user'), exposeErrors: true, onError: () => {} });
    worker = await startWorker({
      connection: redisUrl,
      queue,
      concurrency: 2,
      allow: [fileURLToPath(handlers)],
      threads: { gracePeriod: 200 },
      onError: () => {},
    });
    app = express();
    app.use(express.json());
    app.post('/echo/:id', tasks.asyncApi.worker(module('echo.mjs')));
    app.post('/made', tasks.asyncApi.worker(module('echo.mjs'), { export: 'created' }));
    app.post('/effects', tasks.asyncApi.worker(module('effects.mjs')));
    app.post('/flaky', tasks.asyncApi.worker(module('flaky.mjs'), { retries: { attempts: 3, backoff: { type: 'fixed', delay: 5 } } }));
    app.post('/flaky-slowly', tasks.asyncApi.worker(module('flaky.mjs'), { retries: { attempts: 3, backoff: { type: 'fixed', delay: 60_000 } } }));
    app.post('/made-once', tasks.asyncApi.worker(module('echo.mjs'), { export: 'created', readOnce: true }));
    app.post('/waits', tasks.asyncApi.worker(module('waits.mjs')));
    app.post('/waits-briefly', tasks.asyncApi.worker(module('waits.mjs'), { timeout: 100 }));
    app.post('/fails', tasks.asyncApi.worker(module('faults.mjs'), { export: 'throws' }));
    app.post('/forbidden', tasks.asyncApi.worker(new URL('./fixtures/outside/forbidden.mjs', import.meta.url)));
    app.use(tasks.router);
  });

  afterAll(async () => {
    await worker.close();
    await tasks.close();
    delete process.env.FORBIDDEN_MARKER;
    rmSync(scratch, { recursive: true, force: true });
    await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
  });

  it('runs a handler module on a worker process and replays its answer from Redis', async () => {
    const submitted = await request(app).post('/echo/9?q=1').set('X-Custom', 'c').send({ a: 1 });
    expect(submitted.status).toBe(202);
    const done = await untilFinished(request(app), submitted.headers.location);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ params: { id: '9' }, query: { q: '1' }, body: { a: 1 }, header: 'c', taskId: submitted.body.id });
    const made = await request(app).post('/made').send({ name: 'n' });
    const replay = await untilFinished(request(app), made.headers.location);
    expect(replay.status).toBe(201);
    expect(replay.headers['set-cookie']).toEqual(['made=yes; Path=/']);
    expect(replay.body).toEqual({ made: 'n' });
  });

  it('shows progress, and cancels the task on the worker process: its signal aborts there', async () => {
    const marker = join(scratch, 'cancel');
    const submitted = await request(app).post('/waits').send({ marker });
    await untilStatus(request(app), submitted.headers.location, 'running');
    let live;
    for (let polls = 0; polls < 1_000; polls++) {
      live = await request(app).get(submitted.headers.location!);
      if (live.body.progress !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(live!.body).toMatchObject({ status: 'running', progress: 0.5, message: 'half way, in a thread' });
    expect((await request(app).delete(submitted.headers.location!)).body.status).toBe('canceled');
    expect(await untilFile(marker)).toBe('TaskCanceledError');
    const monitor = await request(app).get(submitted.headers.location!);
    expect(monitor.status).toBe(409);
    expect(monitor.body.type).toBe(problemTypes.taskCanceled);
  });

  it('times a task out on the worker process, and fails a handler with its own status', async () => {
    const marker = join(scratch, 'timeout');
    const briefly = await request(app).post('/waits-briefly').send({ marker });
    expect((await untilFinished(request(app), briefly.headers.location)).status).toBe(504);
    expect(await untilFile(marker)).toBe('TaskTimeoutError');
    const fails = await request(app).post('/fails');
    const failed = await untilFinished(request(app), fails.headers.location);
    expect(failed.status).toBe(422);
    expect(failed.body.detail).toBe('The period must end after it starts');
  });

  it('refuses a module outside the worker\'s directories without importing it', async () => {
    const submitted = await request(app).post('/forbidden');
    const done = await untilFinished(request(app), submitted.headers.location);
    expect(done.status).toBe(500);
    expect(done.body).toMatchObject({
      type: problemTypes.handlerModule,
      detail: 'The handler module test/fixtures/outside/forbidden.mjs is not in a directory this worker may run modules from.',
    });
    expect(existsSync(forbiddenMarker)).toBe(false);
  });

  it('holds long-polls and streams events from another process\'s task; the client helper follows it', async () => {
    const submitted = await fetch(await serverUrl(app, '/made'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'client' }),
    });
    const response = await waitForTask(submitted, { wait: 10 });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ made: 'client' });
    const direct = await request(app).post('/made').set('Prefer', 'wait=10').send({ name: 'waited' });
    expect(direct.status).toBe(201);
    expect(direct.headers['preference-applied']).toBe('wait=10');
    const streamed = await request(app).post('/made').send({ name: 'sse' });
    const events = await request(app).get(streamed.headers.location!).set('Accept', 'text/event-stream');
    expect(events.text).toMatch(/event: done\ndata: \{[^\n]*"status":"succeeded"[^\n]*"made\\":\\"sse\\"/);
  });

  it('removes the job of a task canceled while queued from the queue: no worker takes it', async () => {
    // Both of the worker's slots busy: a third task waits in BullMQ's wait list.
    const busy = [await request(app).post('/waits').send({}), await request(app).post('/waits').send({})];
    for (const response of busy) await untilStatus(request(app), response.headers.location, 'running');
    const queued = await request(app).post('/waits').send({});
    const id = queued.headers.location!.split('/').pop()!;
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const inspect = new Queue(queue, { connection, streams: { events: { maxLen: 100 } } });
    try {
      expect(await inspect.getJobState(id)).toBe('waiting');
      expect((await request(app).delete(queued.headers.location!)).body.status).toBe('canceled');
      expect(await inspect.getJob(id)).toBeUndefined();
    } finally {
      for (const response of busy) await request(app).delete(response.headers.location!);
      await inspect.close();
      connection.disconnect();
    }
  });

  it('streams an event only when the status document changed, on another web process too', async () => {
    const submitted = await request(app).post('/waits').send({});
    const location = submitted.headers.location!;
    for (let polls = 0; polls < 1_000; polls++) {
      if ((await request(app).get(location)).body.progress !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // A second web process, whose store watches its first task: it reads the task as it
    // subscribes, which once sent the same progress event twice.
    const other = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue }), owner: (req) => req.get('x-user'), heartbeat: 50, onError: () => {} });
    const web = express();
    web.use(other.router);
    const { server, close } = await listen(web);
    const stream = openEvents(server, location);
    // The first heartbeat comes after what the watch had to tell at its start.
    for (let turn = 0; turn < 1_000 && stream.comments.length === 0; turn++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(stream.comments).toContain(': heartbeat');
    expect((await request(app).delete(location)).body.status).toBe('canceled');
    await stream.ended;
    await close();
    await other.close();
    expect(stream.events.map(({ event }) => event)).toEqual(['progress', 'done']);
    expect(stream.events[0]!.data).toContain('"progress":0.5');
  });

  it('readOnce: of many readers on two web processes at once, exactly one gets the answer', async () => {
    const submitted = await request(app).post('/made-once').send({ name: 'once' });
    const location = submitted.headers.location!;
    for (let polls = 0; polls < 2_000; polls++) {
      if ((await request(app).head(location)).status !== 202) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect((await request(app).head(location)).status).toBe(201);
    const other = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue, workerCheckInterval: 0 }), onError: () => {} });
    const web = express();
    web.use(other.router);
    try {
      const reads = await Promise.all(Array.from({ length: 20 }, (_, i) => request(i % 2 === 0 ? app : web).get(location)));
      expect(reads.map((read) => read.status).sort()).toEqual([201, ...Array<number>(19).fill(404)]);
      expect(reads.find((read) => read.status === 201)!.body).toEqual({ made: 'once' });
      expect((await request(web).get(location)).status).toBe(404);
    } finally {
      await other.close();
    }
  });

  it('Idempotency-Key: two web processes receiving one key at once create one task', async () => {
    const other = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue, workerCheckInterval: 0 }), owner: (req) => req.get('x-user'), onError: () => {} });
    const web = express();
    web.use(express.json());
    web.post('/made', other.asyncApi.worker(module('echo.mjs'), { export: 'created' }));
    web.use(other.router);
    try {
      const key = `"key-${Date.now()}"`;
      const submits = await Promise.all(
        Array.from({ length: 20 }, (_, i) => request(i % 2 === 0 ? app : web).post('/made').set('Idempotency-Key', key).send({ name: 'once' })),
      );
      expect(new Set(submits.map((submit) => submit.status))).toEqual(new Set([202]));
      expect(new Set(submits.map((submit) => submit.body.id)).size).toBe(1);
      const refused = await request(web).post('/made').set('Idempotency-Key', key).send({ name: 'twice' });
      expect(refused.status).toBe(422);
      const done = await untilFinished(request(app), submits[0]!.headers.location);
      expect(done.body).toEqual({ made: 'once' });
    } finally {
      await other.close();
    }
  });

  it('define(): a module task from code runs on a worker process; only JSON input, only modules', async () => {
    const sum = tasks.define<{ numbers: number[] }, { sum: number; task: string }>(`sum-${queue}`, module('calls.mjs'));
    const handle = await sum.submit({ numbers: [4, 5] }, { owner: 'ann' });
    expect(await handle.result()).toEqual({ sum: 9, task: handle.id });
    const monitor = await request(app).get(handle.location).set('x-user', 'ann');
    expect(monitor.status).toBe(200);
    expect(monitor.body).toEqual({ sum: 9, task: handle.id });
    await expect(sum.submit({ numbers: [1], when: new Date() } as never)).rejects.toThrow('submit() takes an input that is plain JSON (it is queued as JSON); $.when is a Date');
    await expect(sum.submit({ numbers: [1], left: undefined } as never)).rejects.toThrow('$.left is undefined');
    expect(() => tasks.define(`inline-${queue}`, () => 1)).toThrow('takes a module here');
  });

  it('runs a handler module\'s effects after commit on the worker process, once its reply is in Redis', async () => {
    const file = join(scratch, 'effects');
    const submitted = await request(app).post('/effects').send({ file });
    expect((await untilFinished(request(app), submitted.headers.location)).body).toEqual({ queued: 3 });
    expect(await untilFile(file)).toMatch(/^first/);
    for (let turn = 0; turn < 1_000 && readFileSync(file, 'utf8') !== 'first third'; turn++) await new Promise((resolve) => setTimeout(resolve, 2));
    expect(readFileSync(file, 'utf8')).toBe('first third');
  });

  it('retries with BullMQ\'s own attempts: the answer is the last attempt\'s; a cancel during the backoff removes the job', async () => {
    const file = join(scratch, 'flaky');
    const submitted = await request(app).post('/flaky').send({ file, failures: 2 });
    expect(submitted.body).toMatchObject({ attempt: 1, attempts: 3 });
    const done = await untilFinished(request(app), submitted.headers.location);
    expect(done.body).toEqual({ runs: 3 });
    expect(await tasks.get(submitted.body.id)).toMatchObject({ status: 'succeeded', attempt: 3, attempts: 3 });

    const slow = await request(app).post('/flaky-slowly').send({ file: join(scratch, 'flaky-slowly'), failures: 5 });
    let monitor;
    for (let polls = 0; polls < 2_000; polls++) {
      monitor = await request(app).get(slow.headers.location!);
      if (monitor.body.retryAt !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(monitor!.body).toMatchObject({ status: 'running', attempt: 2, attempts: 3 });
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const inspect = new Queue(queue, { connection, streams: { events: { maxLen: 100 } } });
    try {
      for (let polls = 0; polls < 1_000 && (await inspect.getJobState(slow.body.id)) !== 'delayed'; polls++) await new Promise((resolve) => setTimeout(resolve, 2));
      expect(await inspect.getJobState(slow.body.id)).toBe('delayed');
      expect((await request(app).delete(slow.headers.location!)).body.status).toBe('canceled');
      expect(await inspect.getJob(slow.body.id)).toBeUndefined();
    } finally {
      await inspect.close();
      connection.disconnect();
    }
    expect(() => tasks.asyncApi.worker(module('flaky.mjs'), { retries: { attempts: 2, retryOn: () => true } })).toThrow('cannot travel to worker processes');
  });

  it('keeps tasks to their owner', async () => {
    const submitted = await request(app).post('/echo/1').set('X-User', 'alice').send({});
    expect((await request(app).get(submitted.headers.location!)).status).toBe(404);
    expect((await request(app).get(submitted.headers.location!).set('X-User', 'mallory')).status).toBe(404);
    const asAlice = { get: (url: string) => request(app).get(url).set('X-User', 'alice') };
    expect((await untilFinished(asAlice, submitted.headers.location)).status).toBe(200);
  });

  it('refuses inline handlers when the route is wrapped', () => {
    expect(() => tasks.asyncApi(() => 'inline')).toThrow(InvalidOptionError);
    expect(() => tasks.asyncApi(() => 'inline')).toThrow('This backend cannot run inline handlers; put the handler in a module and use asyncApi.worker()');
  });

  it("takes a dead worker's tasks within seconds, by the library's lock defaults; options override them", async () => {
    // BullMQ's own defaults (30 s each) leave a killed worker's task for up to a minute.
    expect(worker.worker.opts).toMatchObject({ lockDuration: 5_000, stalledInterval: 2_500 });
    const other = await startWorker({ connection: redisUrl, queue, allow: [fileURLToPath(handlers)], workerOptions: { lockDuration: 60_000 }, onError: () => {} });
    try {
      expect(other.worker.opts).toMatchObject({ lockDuration: 60_000, stalledInterval: 2_500 });
    } finally {
      await other.close();
    }
  });

  it("keeps BullMQ's events stream short, as the library reads none of it", async () => {
    const client = new Redis(redisUrl);
    try {
      expect(await client.hget(`bull:${queue}:meta`, 'opts.maxLenEvents')).toBe('100');
      for (let i = 0; i < 60; i++) await request(app).post('/echo/1').set('Prefer', 'wait=10').send({ i });
      // Trimmed approximately, by whole nodes of the stream.
      expect(await client.xlen(`bull:${queue}:events`)).toBeLessThan(250);
    } finally {
      client.disconnect();
    }
  });
});

describe('bullmqBackend() limits', () => {
  it('answers 503 at maxTasks, in Redis as in memory', async () => {
    const queue = uniqueName('full');
    const tasks = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue }), maxTasks: 1 });
    const app = express();
    app.post('/r', tasks.asyncApi.worker(module('echo.mjs')));
    try {
      expect((await request(app).post('/r')).status).toBe(202);
      const refused = await request(app).post('/r');
      expect(refused.status).toBe(503);
      expect(refused.body.type).toBe(problemTypes.taskLimit);
      expect(refused.headers['retry-after']).toBe('1');
    } finally {
      await tasks.close();
      await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
    }
  });

  it('names bad options', async () => {
    expect(() => bullmqBackend({ connection: 'http://x', queue: 'q' })).toThrow('bullmqBackend options.connection must be a redis:// or rediss:// URL, got "http://x"');
    expect(() => bullmqBackend({ connection: redisUrl, queue: 'a b' })).toThrow('bullmqBackend options.queue must be a queue name (letters, digits, _ . -), got "a b"');
    expect(() => bullmqBackend({ connection: redisUrl, queue: 'q', retries: 3 } as never)).toThrow('bullmqBackend options.retries is not an option');
    await expect(startWorker({ connection: redisUrl, queue: 'q', concurrency: 0 })).rejects.toThrow('startWorker options.concurrency must be a positive integer or Infinity, got 0');
    await expect(startWorker({ connection: redisUrl, queue: 'q', allow: ['/no/such/dir'] })).rejects.toThrow('startWorker options.allow: there is no directory /no/such/dir');
  });
});

// An absolute URL of `path` on a server for `app`, for clients that are not supertest.
const servers: import('node:http').Server[] = [];
afterAll(() => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});
async function serverUrl(app: Express, path: string): Promise<string> {
  const server = await new Promise<import('node:http').Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as { port: number }).port}${path}`;
}

// Durable tasks with bullmqBackend(): a waiting job is parked in Redis (delayed), holding no
// worker slot, and runs again on any worker process when its event comes, its steps replayed.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import express from 'express';
import { createAsyncApi, problemTypes, type AsyncApi } from 'express-async-api';
import { bullmqBackend } from 'express-async-api/bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { deleteKeys, redisUrl, startFixture, uniqueName } from './redis.js';

const worker = fileURLToPath(new URL('./fixtures/durable/worker.mjs', import.meta.url));
const handlers = new URL('./fixtures/handlers/', import.meta.url);
const durableModule = new URL('durable.mjs', handlers);

describe('durable tasks on BullMQ worker processes', () => {
  const queue = uniqueName('durable');
  const scratch = mkdtempSync(join(tmpdir(), 'durable-redis-'));
  const workers: ChildProcess[] = [];
  let tasks: AsyncApi;
  let server: Server;
  let base: string;
  let logs = 0;
  const newLog = () => join(scratch, `log-${++logs}`);
  const lines = (log: string) => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);

  const startWorker = async (env: Record<string, string> = {}) => {
    const started = startFixture(worker, [queue], env);
    workers.push(started.child);
    await started.first;
    return started.child;
  };

  beforeAll(async () => {
    tasks = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue, workerCheckInterval: 0 }), onError: () => {} });
    const app = express();
    app.use(express.json());
    app.post('/refunds', tasks.asyncApi.worker(durableModule));
    app.post('/three', tasks.asyncApi.worker(durableModule, { export: 'threeSteps' }));
    app.post('/echo/:id', tasks.asyncApi.worker(new URL('echo.mjs', handlers)));
    app.use(tasks.router);
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    await startWorker();
  }, 60_000);

  afterAll(async () => {
    const exits = workers.filter((child) => child.exitCode === null && child.signalCode === null).map((child) => new Promise((resolve) => child.once('exit', resolve)));
    for (const child of workers) child.kill('SIGTERM');
    await Promise.all(exits);
    server.close();
    await tasks.close();
    rmSync(scratch, { recursive: true, force: true });
    await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
  }, 60_000);

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  async function submit(path: string, body: object): Promise<string> {
    const response = await post(path, body);
    expect(response.status).toBe(202);
    return response.headers.get('location')!;
  }

  async function waiting(location: string): Promise<{ event: string; href: string; until: string | null }> {
    return vi.waitFor(
      async () => {
        const document = (await (await fetch(base + location)).json()) as { waitingFor?: { event: string; href: string; until: string | null } };
        if (document.waitingFor === undefined) throw new Error('not waiting yet');
        return document.waitingFor;
      },
      { timeout: 20_000, interval: 20 },
    );
  }

  /** The final answer, held with Prefer: wait; bounded. */
  async function final(location: string): Promise<Response> {
    for (let polls = 0; polls < 30; polls++) {
      const response = await fetch(base + location, { headers: { Prefer: 'wait=5' } });
      if (response.status !== 202) return response;
      await response.arrayBuffer();
    }
    throw new Error(`${location} did not finish`);
  }

  it('an approval: the job parks, and runs again from the top with the event, its steps kept', async () => {
    const log = newLog();
    const location = await submit('/refunds', { log, amount: 30 });
    const wait = await waiting(location);
    expect(wait).toMatchObject({ event: 'approval', until: null, href: `${location}/events/approval` });
    expect(lines(log)).toEqual(['run', 'quote']);
    expect((await post(wait.href, { approved: true })).status).toBe(202);
    const done = await final(location);
    expect(done.status).toBe(201);
    expect(await done.json()).toEqual({ refunded: 30 });
    expect(lines(log)).toEqual(['run', 'quote', 'run', 'refund']);
  }, 30_000);

  it('keeps an event sent before the wait, and delivers a repeated Idempotency-Key once', async () => {
    const log = newLog();
    const location = await submit('/refunds', { log });
    for (let i = 0; i < 3; i++) expect((await post(`${location}/events/approval`, { approved: true }, { 'Idempotency-Key': '"approve-1"' })).status).toBe(202);
    const done = await final(location);
    expect(done.status).toBe(201);
    // A second event would be kept for a second wait: there was one.
    expect((await tasks.get(location.split('/').pop()!))?.status).toBe('succeeded');
    expect(lines(log).filter((line) => line === 'refund')).toEqual(['refund']);
  }, 30_000);

  it('times a parked wait out at its deadline, and answers 409 for an event after the end', async () => {
    const log = newLog();
    const location = await submit('/refunds', { log, timeout: 300 });
    const done = await final(location);
    expect(done.status).toBe(409);
    expect(await done.json()).toEqual({ refused: true, decision: null });
    const late = await post(`${location}/events/approval`, { approved: true });
    expect(late.status).toBe(409);
    expect(((await late.json()) as { type: string }).type).toBe(problemTypes.taskFinished);
  }, 30_000);

  it('a cancel while it waits ends the task and removes its delayed job', async () => {
    const location = await submit('/refunds', { log: newLog() });
    await waiting(location);
    const id = location.split('/').pop()!;
    const canceled = await fetch(base + location, { method: 'DELETE' });
    expect(((await canceled.json()) as { status: string }).status).toBe('canceled');
    const bull = new Queue(queue, { connection: { url: redisUrl } as never });
    try {
      await vi.waitFor(async () => expect(await bull.getJob(id)).toBeUndefined(), { timeout: 5_000, interval: 20 });
    } finally {
      await bull.close();
    }
  }, 30_000);

  it('an event for a task whose worker process was SIGKILLed while it waited: another worker runs it', async () => {
    const log = newLog();
    const location = await submit('/refunds', { log, amount: 5 });
    await waiting(location);
    // Every worker process there is goes; a new one takes the task when its event comes.
    for (const child of workers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await startWorker();
    expect((await post(`${location}/events/approval`, { approved: true })).status).toBe(202);
    const done = await final(location);
    expect(done.status).toBe(201);
    expect(await done.json()).toEqual({ refunded: 5 });
    expect(lines(log)).toEqual(['run', 'quote', 'run', 'refund']);
  }, 30_000);

  it('three steps, the worker process SIGKILLed in the third: the first two ran once each', async () => {
    const log = newLog();
    const killOnce = join(scratch, 'killed-once');
    const second = await startWorker();
    const location = await submit('/three', { log, killOnce });
    const done = await final(location);
    expect(done.status).toBe(200);
    expect(await done.json()).toEqual({ sum: 6 });
    expect(existsSync(killOnce)).toBe(true);
    expect(lines(log)).toEqual(['one', 'two', 'three', 'three']);
    void second;
  }, 40_000);

  it('1,000 tasks wait on one worker process of concurrency 1, and a new ordinary task still runs at once', async () => {
    for (const child of workers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await startWorker({ CONCURRENCY: '1' });
    const locations = await Promise.all(Array.from({ length: 1_000 }, () => submit('/refunds', {})));
    await vi.waitFor(
      async () => {
        const counts = await Promise.all(locations.map(async (location) => (await tasks.get(location.split('/').pop()!))?.waitingFor !== undefined));
        if (!counts.every(Boolean)) throw new Error(`${counts.filter(Boolean).length} of 1,000 wait`);
      },
      { timeout: 60_000, interval: 200 },
    );
    const echo = await post('/echo/1', { ok: true }, { Prefer: 'wait=10' });
    expect(echo.status).toBe(200);
    for (const location of locations.slice(0, 3)) expect((await post(`${location}/events/approval`, { approved: true })).status).toBe(202);
    for (const location of locations.slice(0, 3)) expect((await final(location)).status).toBe(201);
  }, 120_000);
});

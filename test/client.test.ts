import type { Server } from 'node:http';
import { createAsyncApi, MemoryStore, memoryBackend, type AsyncApi, type TaskRequest } from 'express-async-api';
import { waitForTask, type StatusDocument } from 'express-async-api/client';
import express, { type Express } from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deferred } from './helpers.js';

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 20_000 && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error(`never: ${what}`);
}

let server: Server | undefined;
let tasks: AsyncApi | undefined;
afterEach(async () => {
  vi.useRealTimers();
  server?.closeAllConnections();
  server?.close();
  server = undefined;
  await tasks?.close({ timeout: 50 });
  tasks = undefined;
});

function listen(app: Express): Promise<string> {
  return new Promise((resolve) => {
    server = app.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server!.address() as { port: number }).port}`));
  });
}

describe('waitForTask() against express-async-api', () => {
  it('follows the 202, holds its polls with Prefer: wait, reports progress, resolves with the real response', async () => {
    const store = new MemoryStore();
    const release = deferred();
    tasks = createAsyncApi({ backend: memoryBackend({ store }) });
    const app = express();
    app.post(
      '/reports',
      tasks.asyncApi(async (req: TaskRequest, res) => {
        req.task.progress(0.25, 'started');
        await release.promise;
        res.status(201).json({ report: 'ready' });
      }),
    );
    app.use(tasks.router);
    const base = await listen(app);
    const seen: StatusDocument[] = [];
    const submitted = await fetch(`${base}/reports`, { method: 'POST' });
    const result = waitForTask(submitted, { onProgress: (status) => seen.push(status), wait: 30 });
    // The client's poll is held by the server: the runner and the poll watch the task.
    await until(() => store.watcherCount() === 2, 'the poll is held');
    release.resolve();
    const response = await result;
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ report: 'ready' });
    expect(seen[0]).toMatchObject({ status: 'queued' });
    expect(seen.every((status) => typeof status.id === 'string')).toBe(true);
  });

  it('takes a monitor URL, and resolves with a problem response for a failed task', async () => {
    tasks = createAsyncApi({ onError: () => {} });
    const app = express();
    app.post(
      '/bad',
      tasks.asyncApi(() => {
        throw Object.assign(new Error('nope'), { status: 422 });
      }),
    );
    app.use(tasks.router);
    const base = await listen(app);
    const submitted = await fetch(`${base}/bad`, { method: 'POST' });
    const response = await waitForTask(new URL(submitted.headers.get('location')!, base).href);
    expect(response.status).toBe(422);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
  });
});

/** A server of the pattern that knows nothing of Prefer: 202 `pending` times, then 200. */
function genericServer(pending: number, retryAfter: () => string) {
  const app = express();
  let polls = 0;
  app.post('/jobs', (_req, res) => res.status(202).location('/jobs/1').set('Retry-After', retryAfter()).json({ id: '1', status: 'queued' }));
  app.get('/jobs/1', (_req, res) => {
    polls++;
    if (polls <= pending) res.status(202).set('Retry-After', retryAfter()).json({ id: '1', status: 'running', progress: polls / (pending + 1) });
    else res.json({ finished: true });
  });
  return { app, polls: () => polls };
}

describe('waitForTask() against any server of the pattern', () => {
  it('waits Retry-After seconds between polls when the server does not hold them', async () => {
    const generic = genericServer(2, () => '0');
    const base = await listen(generic.app);
    const seen: (number | undefined)[] = [];
    const response = await waitForTask(await fetch(`${base}/jobs`, { method: 'POST' }), { onProgress: (s) => seen.push(s.progress) });
    expect(await response.json()).toEqual({ finished: true });
    expect(generic.polls()).toBe(3);
    expect(seen).toEqual([undefined, 1 / 3, 2 / 3]);
  });

  it('reads Retry-After as an HTTP date', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const generic = genericServer(1, () => new Date(Date.now() + 5_000).toUTCString());
    const base = await listen(generic.app);
    const result = waitForTask(`${base}/jobs/1`);
    await until(() => generic.polls() === 1, 'the first poll');
    await vi.advanceTimersByTimeAsync(4_000);
    expect(generic.polls()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await (await result).json()).toEqual({ finished: true });
    expect(generic.polls()).toBe(2);
  });

  it('rejects with the signal\'s reason when it aborts, between polls or during one', async () => {
    const generic = genericServer(100, () => '30');
    const base = await listen(generic.app);
    const controller = new AbortController();
    const result = waitForTask(`${base}/jobs/1`, { signal: controller.signal });
    await until(() => generic.polls() === 1, 'the first poll');
    controller.abort(new Error('the user went away'));
    await expect(result).rejects.toThrow('the user went away');

    const app = express();
    app.get('/never', () => {});
    const other = await new Promise<string>((resolve) => {
      const held = app.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(held.address() as { port: number }).port}`));
      afterEach(() => {
        held.closeAllConnections();
        held.close();
      });
    });
    const during = new AbortController();
    const hanging = waitForTask(`${other}/never`, { signal: during.signal });
    setImmediate(() => during.abort(new Error('stop now')));
    await expect(hanging).rejects.toThrow('stop now');
  });

  it('returns a final response as it is, and explains what it cannot follow', async () => {
    const final = new Response('done', { status: 200 });
    expect(await waitForTask(final)).toBe(final);
    await expect(waitForTask(new Response(null, { status: 202 }))).rejects.toThrow('The 202 response has no Location header to follow');
    await expect(waitForTask(new Response(null, { status: 202, headers: { location: '/status/1' } }))).rejects.toThrow(
      'waitForTask() needs a baseUrl to resolve a relative Location',
    );
    await expect(waitForTask('/status/1', { wait: -1, baseUrl: 'http://127.0.0.1:1' })).rejects.toThrow(
      'waitForTask() options.wait must be a whole number of seconds, got -1',
    );
  });
});

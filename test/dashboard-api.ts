// The dashboard's JSON API, the same against every backend: `setup` builds an app whose
// worker routes run on it, with the dashboard mounted at /admin/tasks.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { problemTypes, type AsyncApi } from 'express-async-api';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEvents, untilFinished, untilStatus } from './helpers.js';
import { listen } from './load.js';

const handlers = new URL('./fixtures/handlers/', import.meta.url);
const module = (name: string) => new URL(name, handlers);

// The worker routes every backend's suite uses, and the dashboard at /admin/tasks (and read-only at /read-only).
export function workerRoutes(app: Express, tasks: AsyncApi): void {
  app.post('/echo/:id', tasks.asyncApi.worker(module('echo.mjs')));
  app.post('/binary', tasks.asyncApi.worker(module('echo.mjs'), { export: 'binary' }));
  app.post('/fails', tasks.asyncApi.worker(module('faults.mjs'), { export: 'throws' }));
  app.post('/waits', tasks.asyncApi.worker(module('waits.mjs')));
  app.post('/flaky', tasks.asyncApi.worker(module('flaky.mjs')));
  app.use('/admin/tasks', tasks.dashboard());
  app.use('/read-only', tasks.dashboard({ readOnly: true }));
  app.use(tasks.router);
}

export interface DashboardSetup {
  tasks: AsyncApi;
  app: Express;
  close(): Promise<void>;
}

/** Headers of a mutation sent by the dashboard's page. */
export const fromThePage = { 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'same-origin' };

export function dashboardContract(name: string, setup: () => Promise<DashboardSetup>) {
  describe(`the dashboard's API, ${name}`, () => {
    let context: DashboardSetup;
    let agent: ReturnType<typeof request.agent>;
    let server: Server;
    let base: string;
    let closeServer: () => Promise<void>;
    const scratch = mkdtempSync(join(tmpdir(), 'dashboard-'));

    beforeAll(async () => {
      context = await setup();
      ({ server, base, close: closeServer } = await listen(context.app));
      agent = request.agent(base);
    });
    afterAll(async () => {
      await closeServer();
      await context.close();
    });

    const submit = async (path: string, body: object = {}) => {
      const response = await agent.post(path).send(body).expect(202);
      return { id: response.body.id as string, location: response.headers.location as string };
    };

    it('lists the tasks newest first with the route as matched, the method and the URL, a page at a time', async () => {
      const made = [];
      const names = ['apple', 'banana', 'cherry', 'damson', 'elder'];
      for (const [i, fruit] of names.entries()) made.push(await submit(`/echo/${fruit}?page=${i}`, { i }));
      for (const task of made) await untilFinished(agent, task.location);
      const first = await agent.get('/admin/tasks/api/tasks?route=POST%20/echo/:id&limit=2').expect(200);
      expect(first.body.tasks.map((task: { id: string }) => task.id)).toEqual([made[4]!.id, made[3]!.id]);
      expect(first.body.tasks[0]).toMatchObject({ status: 'succeeded', route: 'POST /echo/:id', method: 'POST', url: '/echo/elder?page=4', retryable: false, reply: { status: 200, contentType: 'application/json; charset=utf-8' } });
      expect(typeof first.body.next).toBe('string');
      const rest = await agent.get(`/admin/tasks/api/tasks?route=POST%20/echo/:id&limit=10&cursor=${first.body.next}`).expect(200);
      expect(rest.body.tasks.map((task: { id: string }) => task.id)).toEqual([made[2]!.id, made[1]!.id, made[0]!.id]);
      expect(rest.body.next).toBeNull();
      // By id prefix, by a word of the URL, by status.
      const byPrefix = await agent.get(`/admin/tasks/api/tasks?id=${made[2]!.id.slice(0, 8)}`).expect(200);
      expect(byPrefix.body.tasks.map((task: { id: string }) => task.id)).toEqual([made[2]!.id]);
      const byWord = await agent.get('/admin/tasks/api/tasks?text=Damson').expect(200);
      expect(byWord.body.tasks.map((task: { id: string }) => task.id)).toEqual([made[3]!.id]);
      expect((await agent.get('/admin/tasks/api/tasks?status=failed,canceled&route=POST%20/echo/:id').expect(200)).body.tasks).toEqual([]);
    });

    it('answers a bad query with a 400 problem that names it', async () => {
      const bad = await agent.get('/admin/tasks/api/tasks?limit=9999').expect(400);
      expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(bad.body).toMatchObject({ type: problemTypes.invalidQuery, status: 400, detail: 'query.limit must be a whole number from 1 to 500, got 9999' });
      expect((await agent.get('/admin/tasks/api/tasks?colour=red').expect(400)).body.detail).toMatch('Unknown query parameter "colour"');
      expect((await agent.get('/admin/tasks/api/tasks?status=done').expect(400)).body.detail).toMatch('"done" is not a status');
      expect((await agent.get('/admin/tasks/api/tasks?from=yesterday').expect(400)).body.detail).toMatch('"from" must be a time');
      expect((await agent.get('/admin/tasks/api/tasks?cursor=%3F%3F').expect(400)).body.detail).toMatch('not a cursor');
    });

    it('shows a task whole: the reply head and the start of its body, text or hex, and the problem', async () => {
      const text = await submit('/echo/one', { hello: 'world' });
      const binary = await submit('/binary');
      const failed = await submit('/fails');
      for (const task of [text, binary, failed]) await untilFinished(agent, task.location);
      const shown = (await agent.get(`/admin/tasks/api/tasks/${text.id}`).expect(200)).body;
      expect(shown.reply).toMatchObject({ status: 200, contentType: 'application/json; charset=utf-8', preview: { encoding: 'text', truncated: false } });
      expect(JSON.parse(shown.reply.preview.text).body).toEqual({ hello: 'world' });
      expect(shown.reply.headers).toContainEqual(['Content-Type', 'application/json; charset=utf-8']);
      const bytes = (await agent.get(`/admin/tasks/api/tasks/${binary.id}`).expect(200)).body;
      expect(bytes.reply).toMatchObject({ size: 6, preview: { encoding: 'hex' } });
      expect(bytes.reply.preview.text).toMatch(/^00000000 {2}00 01 02 fd fe ff/);
      const problem = (await agent.get(`/admin/tasks/api/tasks/${failed.id}`).expect(200)).body;
      expect(problem).toMatchObject({ status: 'failed', problem: { status: 422, detail: 'The period must end after it starts' }, retryable: true });
      const missing = await agent.get('/admin/tasks/api/tasks/no-such-task').expect(404);
      expect(missing.body.type).toBe(problemTypes.taskNotFound);
    });

    it('cancels a live task and deletes a finished one', async () => {
      const live = await submit('/waits', {});
      await untilStatus(agent, live.location, 'running');
      const canceled = await agent.delete(`/admin/tasks/api/tasks/${live.id}`).set(fromThePage).send({}).expect(200);
      expect(canceled.body).toMatchObject({ action: 'canceled', task: { id: live.id, status: 'canceled' } });
      const deleted = await agent.delete(`/admin/tasks/api/tasks/${live.id}`).set(fromThePage).send({}).expect(200);
      expect(deleted.body).toMatchObject({ action: 'deleted', task: { id: live.id, status: 'canceled' } });
      await agent.get(live.location).expect(404);
      await agent.get(`/admin/tasks/api/tasks/${live.id}`).expect(404);
    });

    it('runs a failed worker task again: a new task with the same job, which succeeds this time', async () => {
      const file = join(scratch, 'flaky-runs');
      const failed = await submit('/flaky?from=dashboard', { file, failures: 1 });
      expect((await untilFinished(agent, failed.location)).status).toBe(500);
      const retried = await agent.post(`/admin/tasks/api/tasks/${failed.id}/retry`).set(fromThePage).send({}).expect(201);
      const { task } = retried.body;
      expect(task.id).not.toBe(failed.id);
      expect(task).toMatchObject({ route: 'POST /flaky', url: '/flaky?from=dashboard', retryable: true });
      expect(retried.headers.location).toBe(`../${task.id}`);
      const done = await untilFinished(agent, `/status/${task.id}`);
      expect(done.status).toBe(200);
      expect(done.body).toEqual({ runs: 2 });
      // Succeeded, its job is let go.
      const again = await agent.post(`/admin/tasks/api/tasks/${task.id}/retry`).set(fromThePage).send({}).expect(409);
      expect(again.body.type).toBe(problemTypes.notRerunnable);
    });

    it('refuses changes that are not JSON from its own origin, and any change when read-only', async () => {
      const { id, location } = await submit('/waits', {});
      await untilStatus(agent, location, 'running');
      const form = await agent.delete(`/admin/tasks/api/tasks/${id}`).set('Content-Type', 'application/x-www-form-urlencoded').send('a=1').expect(403);
      expect(form.body).toMatchObject({ type: problemTypes.forbidden, status: 403 });
      await agent.delete(`/admin/tasks/api/tasks/${id}`).set({ 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'cross-site' }).send({}).expect(403);
      await agent.post(`/admin/tasks/api/tasks/${id}/retry`).set({ 'Content-Type': 'application/json', Origin: 'https://evil.example' }).send({}).expect(403);
      await agent.delete(`/admin/tasks/api/tasks/${id}`).set({ 'Content-Type': 'application/json' }).send({}).expect(403);
      await agent.delete(`/read-only/api/tasks/${id}`).set(fromThePage).send({}).expect(403);
      expect((await agent.get(`/admin/tasks/api/tasks/${id}`).expect(200)).body.status).toBe('running');
      // From its own origin, by Origin alone (a browser without Sec-Fetch-Site).
      await agent.delete(`/admin/tasks/api/tasks/${id}`).set({ 'Content-Type': 'application/json', Origin: base }).send({}).expect(200);
      await agent.put(`/admin/tasks/api/tasks/${id}`).set(fromThePage).send({}).expect(405).expect('Allow', 'GET, HEAD, DELETE');
    });

    it('counts per status and per route, with run times, over the last minutes', async () => {
      const made = [await submit('/echo/a'), await submit('/echo/b'), await submit('/fails')];
      for (const task of made) await untilFinished(agent, task.location);
      const stats = (await agent.get('/admin/tasks/api/stats').expect(200)).body;
      expect(Object.keys(stats.counts).sort()).toEqual(['canceled', 'failed', 'queued', 'running', 'succeeded']);
      expect(stats.counts.succeeded).toBeGreaterThanOrEqual(2);
      const echo = stats.routes.find((route: { route: string }) => route.route === 'POST /echo/:id');
      expect(echo.windows['15m'].submitted).toBeGreaterThanOrEqual(2);
      expect(echo.windows['15m'].run).toMatchObject({ p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) });
      expect(echo.series).toHaveLength(15);
      expect(echo.series.at(-1).succeeded).toBeGreaterThanOrEqual(1);
      expect(stats.routes.find((route: { route: string }) => route.route === 'POST /fails').windows['1m'].failed).toBeGreaterThanOrEqual(1);
    });

    it('streams the changes of the tasks a filter matches, coalesced, with the counts', async () => {
      const stream = openEvents(server, '/admin/tasks/api/events?route=POST%20/echo/:id');
      for (let i = 0; i < 100 && stream.events.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(stream.events[0]!.event).toBe('counts');
      const { id, location } = await submit('/echo/streamed');
      const other = await submit('/fails');
      await untilFinished(agent, location);
      await untilFinished(agent, other.location);
      const seen = (): { id: string; status: string }[] =>
        stream.events.filter((event) => event.event === 'tasks').flatMap((event) => JSON.parse(event.data).tasks);
      for (let i = 0; i < 200 && !seen().some((task) => task.id === id && task.status === 'succeeded'); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(seen().filter((task) => task.id === id).at(-1)).toMatchObject({ status: 'succeeded', route: 'POST /echo/:id' });
      expect(seen().some((task) => task.id === other.id)).toBe(false);
      expect(stream.events.some((event) => event.event === 'counts' && JSON.parse(event.data).succeeded > 0)).toBe(true);
    });
  });
}

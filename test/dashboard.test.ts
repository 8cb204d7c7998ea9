import { createAsyncApi, MemoryStore, memoryBackend, problemTypes } from 'express-async-api';
import { asyncApiMetrics } from 'express-async-api/metrics';
import { Registry } from 'prom-client';
import express from 'express';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { dashboardContract, fromThePage, workerRoutes } from './dashboard-api.js';
import { bulkContract, bulkRoutes, ownerOption } from './bulk-api.js';
import { deferred, openEvents, untilFinished, untilStatus } from './helpers.js';
import { listen } from './load.js';

dashboardContract('memoryBackend()', async () => {
  const tasks = createAsyncApi({ onError: () => {}, threads: { gracePeriod: 200 } });
  const app = express();
  app.use(express.json());
  workerRoutes(app, tasks);
  return { tasks, app, close: () => tasks.close() };
});

bulkContract('memoryBackend()', async () => {
  const tasks = createAsyncApi({ onError: () => {}, threads: { max: 8, gracePeriod: 200 }, ...ownerOption });
  const app = express();
  app.use(express.json());
  bulkRoutes(app, tasks);
  return { tasks, app, close: () => tasks.close() };
});

describe('the dashboard, in memory', () => {
  function inlineApp(options?: Parameters<ReturnType<typeof createAsyncApi>['dashboard']>[0]) {
    const tasks = createAsyncApi({ onError: () => {} });
    const app = express();
    app.use(express.json());
    const gate = deferred();
    app.post('/inline/:kind', tasks.asyncApi(async (req, res) => {
      req.task.progress(0.25, `making ${req.params.kind}`);
      await Promise.race([gate.promise, new Promise((resolve) => req.task.signal.addEventListener('abort', resolve))]);
      res.json({ kind: req.params.kind });
    }));
    app.use('/admin/tasks', tasks.dashboard(options));
    app.use(tasks.router);
    return { tasks, app, gate };
  }

  it('refuses requests that did not come from this machine, unless authorize lets them', async () => {
    const { tasks, app } = inlineApp();
    for (const path of ['/admin/tasks/', '/admin/tasks/api/tasks', '/admin/tasks/api/stats', '/admin/tasks/assets/dashboard.js']) {
      const refused = await request(app).get(path).set('X-Forwarded-For', '203.0.113.9').expect(403);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(refused.body).toMatchObject({ type: problemTypes.forbidden, status: 403 });
      expect(JSON.stringify(refused.body)).not.toMatch(/inline|making/);
    }
    await tasks.close();
    const allowed = inlineApp({ authorize: (req) => req.get('x-admin') === 'yes' });
    await request(allowed.app).get('/admin/tasks/api/tasks').set('X-Forwarded-For', '203.0.113.9').expect(403);
    await request(allowed.app).get('/admin/tasks/api/tasks').set('x-admin', 'yes').expect(200);
    await allowed.tasks.close();
    const asynchronously = inlineApp({ authorize: async () => false });
    await request(asynchronously.app).get('/admin/tasks/api/tasks').expect(403);
    await asynchronously.tasks.close();
  });

  it('serves the page with a policy that allows no inline script, under a URL that ends with a slash', async () => {
    const { tasks, app } = inlineApp({ title: 'Jobs <&> "here"' });
    await request(app).get('/admin/tasks?x=1').expect(301).expect('Location', '/admin/tasks/?x=1');
    const page = await request(app).get('/admin/tasks/').expect(200);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self';/);
    expect(page.headers['content-security-policy']).not.toMatch(/unsafe-inline/);
    expect(page.text).toContain('<title>Jobs &lt;&amp;&gt; &quot;here&quot;</title>');
    expect(page.text).not.toMatch(/<script>|<style>| style=/);
    expect(page.text).toContain('data-read-only="false"');
    await request(app).get('/admin/tasks/nothing-here').expect(404);
    await request(app).get('/admin/tasks/api/tasks/%E0%A4%A').expect(404);
    await tasks.close();
  });

  it('cancels a running inline task, whose handler hears of it, and cannot run one again', async () => {
    const { tasks, app } = inlineApp();
    const submitted = await request(app).post('/inline/pie').send({}).expect(202);
    const { id } = submitted.body;
    await untilStatus(request(app), submitted.headers.location, 'running');
    const listed = (await request(app).get('/admin/tasks/api/tasks?text=pie').expect(200)).body.tasks;
    expect(listed).toMatchObject([{ id, route: 'POST /inline/:kind', progress: 0.25, message: 'making pie', retryable: false }]);
    await request(app).delete(`/admin/tasks/api/tasks/${id}`).set(fromThePage).send({}).expect(200);
    expect((await untilFinished(request(app), submitted.headers.location)).status).toBe(409);
    const refused = await request(app).post(`/admin/tasks/api/tasks/${id}/retry`).set(fromThePage).send({}).expect(409);
    expect(refused.body).toMatchObject({ type: problemTypes.notRerunnable, status: 409 });
    expect(refused.body.detail).toMatch(/inline handler/);
    await tasks.close();
  });

  it('deletes a finished task with metrics on, and counts it once', async () => {
    const registry = new Registry();
    const tasks = createAsyncApi({ metrics: asyncApiMetrics({ registry }), onError: () => {} });
    const app = express();
    app.post('/quick', tasks.asyncApi(async (_req, res) => res.json({ ok: true })));
    app.use('/admin/tasks', tasks.dashboard());
    app.use(tasks.router);
    const submitted = await request(app).post('/quick').expect(202);
    await untilFinished(request(app), submitted.headers.location);
    await request(app).delete(`/admin/tasks/api/tasks/${submitted.body.id}`).set(fromThePage).send({}).expect(200, /"action":"deleted"/);
    await request(app).get(submitted.headers.location as string).expect(404);
    expect((await registry.getSingleMetricAsString('async_api_tasks_finished_total'))).toMatch(/status="succeeded"} 1$/m);
    await tasks.close();
  });

  it('streams at most 200 tasks a batch, the newest, and says how many changes it left out', async () => {
    const store = new MemoryStore();
    const tasks = createAsyncApi({ backend: memoryBackend({ store }) });
    const app = express();
    app.use('/admin/tasks', tasks.dashboard());
    const { server, close } = await listen(app);
    const stream = openEvents(server, '/admin/tasks/api/events');
    for (let i = 0; i < 100 && stream.events.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    // In one turn, well within one batch's 100 ms.
    await Promise.all(Array.from({ length: 250 }, (_, i) => store.create({ id: `t-${String(i).padStart(3, '0')}`, owner: undefined, createdAt: 1_000 + i })));
    for (let i = 0; i < 100 && !stream.events.some((event) => event.event === 'tasks'); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const batch = JSON.parse(stream.events.find((event) => event.event === 'tasks')!.data);
    expect(batch.tasks).toHaveLength(200);
    expect(batch.skipped).toBe(50);
    expect(batch.tasks[0].id).toBe('t-249');
    expect(batch.tasks.at(-1).id).toBe('t-050');
    await close();
    await tasks.close();
  });

  it('an app without a dashboard keeps no index; one mounted later lists and finds every task already held', async () => {
    const store = new MemoryStore();
    const tasks = createAsyncApi({ backend: memoryBackend({ store }) });
    const app = express();
    app.post('/reports/:kind', tasks.asyncApi((req) => {
      req.task.progress(0.5, `summing ${req.params.kind} ledgers`);
      return { kind: req.params.kind };
    }));
    app.use(tasks.router);
    const agent = request(app);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const submitted = await agent.post(`/reports/kind${i}?page=${i}`).expect(202);
      ids.push(submitted.body.id);
      await untilFinished(agent, submitted.headers.location);
    }
    expect(store.indexPlaces()).toBe(0);
    app.use('/admin/tasks', tasks.dashboard());
    const listed = await agent.get('/admin/tasks/api/tasks?limit=100').expect(200);
    expect(listed.body.tasks.map((task: { id: string }) => task.id).sort()).toEqual([...ids].sort());
    const found = await agent.get('/admin/tasks/api/tasks?text=kind7%20ledgers').expect(200);
    expect(found.body.tasks.map((task: { id: string }) => task.id)).toEqual([ids[7]]);
    expect((await agent.get(`/admin/tasks/api/tasks?id=${ids[3]!.slice(0, 8)}`).expect(200)).body.tasks[0].id).toBe(ids[3]);
    expect(store.indexPlaces()).toBeGreaterThan(0);
    await tasks.close();
  });

  it('a filtered events stream sends nothing about tasks that never matched, and removes those it had', async () => {
    const store = new MemoryStore();
    const tasks = createAsyncApi({ backend: memoryBackend({ store }) });
    const app = express();
    app.use('/admin/tasks', tasks.dashboard());
    const { server, close } = await listen(app);
    const failed = { status: 'failed' as const, problem: { type: 'about:blank', title: 'Internal Server Error', status: 500, detail: undefined, expose: false } };
    await store.create({ id: 'running-1', owner: undefined, createdAt: 1_000 });
    await store.start('running-1', 1_001);
    await store.create({ id: 'failed-1', owner: undefined, createdAt: 1_002 });
    await store.finish('failed-1', failed, 1_003, 1_002);
    const stream = openEvents(server, '/admin/tasks/api/events?status=failed');
    const batches = () => stream.events.filter((event) => event.event === 'tasks').map((event) => JSON.parse(event.data) as { tasks: { id: string }[]; removed: string[] });
    await vi.waitFor(() => expect(stream.events[0]?.event).toBe('counts'));
    for (let i = 1; i <= 20; i++) await store.progress('running-1', i / 20, `step ${i}`);
    await store.create({ id: 'failed-2', owner: undefined, createdAt: 1_004 });
    await store.finish('failed-2', failed, 1_005, 1_004);
    await vi.waitFor(() => expect(batches().flatMap((batch) => batch.tasks.map((task) => task.id))).toContain('failed-2'));
    // A task the stream had when it began (its first page), and one it sent: their removal is told.
    await store.delete('failed-1', true);
    await store.finish('running-1', { status: 'succeeded', reply: { status: 204, headers: [], body: undefined } }, 1_006);
    await store.delete('running-1', true);
    await store.delete('failed-2', true);
    await vi.waitFor(() => expect(batches().flatMap((batch) => batch.removed)).toEqual(['failed-1', 'failed-2']));
    expect(stream.events.some((event) => event.data.includes('running-1'))).toBe(false);
    // The counts still follow every task.
    expect(stream.events.filter((event) => event.event === 'counts').length).toBeGreaterThan(1);
    await close();
    await tasks.close();
  });

  it('names a bad option', () => {
    const tasks = createAsyncApi();
    expect(() => tasks.dashboard({ readOnly: 'yes' as never })).toThrow('dashboard options.readOnly must be true or false, got "yes"');
    expect(() => tasks.dashboard({ authorize: true as never })).toThrow('dashboard options.authorize must be a function, got true');
    expect(() => tasks.dashboard({ title: '' })).toThrow('dashboard options.title must be a non-empty string, got ""');
    expect(() => tasks.dashboard({ colour: 'red' } as never)).toThrow(/colour/);
    return tasks.close();
  });
});

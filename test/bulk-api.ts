// Rewind and bulk actions, the same against every backend: `setup` builds an app whose worker
// routes run on it, with the dashboard at /admin/tasks (and read-only at /read-only), the owner
// of a request its X-Owner header.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { problemTypes, type AsyncApi } from 'express-async-api';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromThePage } from './dashboard-api.js';
import { untilFinished, untilStatus } from './helpers.js';
import { listen } from './load.js';

const handlers = new URL('./fixtures/handlers/', import.meta.url);

/** The routes of the bulk suites. */
export function bulkRoutes(app: Express, tasks: AsyncApi): void {
  app.post('/echo/:id', tasks.asyncApi.worker(new URL('echo.mjs', handlers)));
  app.post('/fails', tasks.asyncApi.worker(new URL('faults.mjs', handlers), { export: 'throws' }));
  app.post('/waits', tasks.asyncApi.worker(new URL('waits.mjs', handlers)));
  app.post('/fails-once', tasks.asyncApi.worker(new URL('durable.mjs', handlers), { export: 'failsOnce' }));
  app.use('/admin/tasks', tasks.dashboard());
  app.use('/read-only', tasks.dashboard({ readOnly: true }));
  app.use(tasks.router);
}

/** The owner option of the bulk suites' apps. */
export const ownerOption = { owner: (req: { get(name: string): string | undefined }) => req.get('x-owner') };

export interface BulkSetup {
  tasks: AsyncApi;
  app: Express;
  close(): Promise<void>;
}

export function bulkContract(name: string, setup: () => Promise<BulkSetup>) {
  describe(`rewind and bulk actions, ${name}`, () => {
    let context: BulkSetup;
    let server: Server;
    let agent: ReturnType<typeof request.agent>;
    let closeServer: () => Promise<void>;
    const scratch = mkdtempSync(join(tmpdir(), 'bulk-'));
    let files = 0;
    const file = () => join(scratch, `f-${++files}`);
    const lines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []);

    beforeAll(async () => {
      context = await setup();
      let base: string;
      ({ server, base, close: closeServer } = await listen(context.app));
      void server;
      agent = request.agent(base);
    });
    afterAll(async () => {
      await closeServer();
      await context.close();
    });

    const submit = async (path: string, owner: string, body: object = {}) => {
      const response = await agent.post(path).set('X-Owner', owner).send(body).expect(202);
      return { id: response.body.id as string, location: response.headers.location as string };
    };
    const answer = (location: string, owner: string) => untilFinished({ get: (url: string) => agent.get(url).set('X-Owner', owner) }, location);
    const ids = (tasks: { id: string }[]) => tasks.map((task) => task.id).sort();

    it('rewinds a failed worker task under its id: its monitor gives its new answer, its finished step is not run again', async () => {
      const log = file();
      const marker = file();
      const task = await submit('/fails-once', 'ann', { log, marker });
      expect((await answer(task.location, 'ann')).status).toBe(502);
      expect(lines(log)).toEqual(['charge']);
      const rewound = await agent.post(`/admin/tasks/api/tasks/${task.id}/rewind`).set(fromThePage).send({}).expect(200);
      expect(rewound.body.task).toMatchObject({ id: task.id, rewinds: 1 });
      const again = await answer(task.location, 'ann');
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ charged: 12 });
      expect(lines(log)).toEqual(['charge']);
      const detail = (await agent.get(`/admin/tasks/api/tasks/${task.id}`).expect(200)).body;
      expect(detail).toMatchObject({ status: 'succeeded', rewinds: 1, rewindable: false, runs: [{ status: 'failed', problem: { status: 502 } }] });
      // The status document says so too.
      expect((await agent.get(task.location).set('X-Owner', 'ann').set('Prefer', 'respond-async')).status).toBe(200);
      // A task that succeeded is not rewound.
      const refused = await agent.post(`/admin/tasks/api/tasks/${task.id}/rewind`).set(fromThePage).send({}).expect(409);
      expect(refused.body.type).toBe(problemTypes.notRerunnable);
      await agent.post(`/read-only/api/tasks/${task.id}/rewind`).set(fromThePage).send({}).expect(403);
    });

    it('cancels, rewinds and deletes by filter exactly the tasks it matches, and no other owner\'s', async () => {
      const route = encodeURIComponent('POST /waits');
      const waits = { ann: [await submit('/waits', 'ann'), await submit('/waits', 'ann')], bob: [await submit('/waits', 'bob')] };
      for (const task of [...waits.ann, ...waits.bob]) await untilStatus({ get: (url: string) => agent.get(url).set('X-Owner', task === waits.bob[0] ? 'bob' : 'ann') }, task.location, 'running');
      // No filter: refused, unless all=true.
      expect((await agent.post('/admin/tasks/api/tasks/cancel').set(fromThePage).send({}).expect(400)).body.type).toBe(problemTypes.invalidQuery);
      const canceled = await agent.post(`/admin/tasks/api/tasks/cancel?route=${route}&owner=ann`).set(fromThePage).send({}).expect(200);
      expect(canceled.body).toEqual({ matched: 2, done: 2, skipped: 0 });
      expect((await agent.get(waits.bob[0]!.location).set('X-Owner', 'bob')).status).toBe(202);
      // A second cancel of the same: matched, skipped (they are not live).
      expect((await agent.post(`/admin/tasks/api/tasks/cancel?route=${route}&owner=ann`).set(fromThePage).send({}).expect(200)).body).toEqual({ matched: 2, done: 0, skipped: 2 });
      // Rewinds the canceled ones of ann (their jobs were kept): bob's live one is not touched.
      const rewound = await agent.post(`/admin/tasks/api/tasks/rewind?route=${route}&status=canceled`).set(fromThePage).send({}).expect(200);
      expect(rewound.body).toEqual({ matched: 2, done: 2, skipped: 0 });
      for (const task of waits.ann) await untilStatus({ get: (url: string) => agent.get(url).set('X-Owner', 'ann') }, task.location, 'running');
      // Cancel everything of the route, then delete the finished ones of ann only.
      expect((await agent.post(`/admin/tasks/api/tasks/cancel?route=${route}`).set(fromThePage).send({}).expect(200)).body).toMatchObject({ matched: 3, done: 3 });
      const deleted = await agent.delete(`/admin/tasks/api/tasks?route=${route}&owner=ann`).set(fromThePage).send({}).expect(200);
      expect(deleted.body).toEqual({ matched: 2, done: 2, skipped: 0 });
      for (const task of waits.ann) await agent.get(task.location).set('X-Owner', 'ann').expect(404);
      expect(ids((await agent.get(`/admin/tasks/api/tasks?route=${route}`).expect(200)).body.tasks)).toEqual([waits.bob[0]!.id]);
      await agent.delete(`/read-only/api/tasks?route=${route}`).set(fromThePage).send({}).expect(403);
      // A mutation from another site is refused.
      await agent.delete(`/admin/tasks/api/tasks?route=${route}`).set('Content-Type', 'application/json').set('Sec-Fetch-Site', 'cross-site').send({}).expect(403);
    });

    it('two bulk rewinds of the same tasks at once run each task once', async () => {
      const made = [await submit('/waits', 'carl'), await submit('/waits', 'carl'), await submit('/waits', 'carl')];
      const carl = { get: (url: string) => agent.get(url).set('X-Owner', 'carl') };
      for (const task of made) await untilStatus(carl, task.location, 'running');
      expect((await agent.post('/admin/tasks/api/tasks/cancel?owner=carl').set(fromThePage).send({}).expect(200)).body).toMatchObject({ done: 3 });
      // Rewound, the tasks run (until canceled): the second action finds none to rewind again.
      const query = `owner=carl&status=canceled`;
      const [a, b] = await Promise.all([
        agent.post(`/admin/tasks/api/tasks/rewind?${query}`).set(fromThePage).send({}),
        agent.post(`/admin/tasks/api/tasks/rewind?${query}`).set(fromThePage).send({}),
      ]);
      expect(a.body.done + b.body.done).toBe(3);
      for (const task of made) expect((await agent.get(`/admin/tasks/api/tasks/${task.id}`).expect(200)).body.rewinds).toBe(1);
      expect((await agent.get(`/admin/tasks/api/tasks/count?owner=carl`).expect(200)).body).toEqual({ count: 3 });
      expect((await agent.post('/admin/tasks/api/tasks/cancel?owner=carl').set(fromThePage).send({}).expect(200)).body).toMatchObject({ done: 3 });
    });
  });
}

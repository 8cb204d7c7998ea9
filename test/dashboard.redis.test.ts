import { fileURLToPath } from 'node:url';
import { createAsyncApi } from 'express-async-api';
import { bullmqBackend, startWorker } from 'express-async-api/bullmq';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { dashboardContract, workerRoutes } from './dashboard-api.js';
import { bulkContract, bulkRoutes, ownerOption } from './bulk-api.js';
import { untilFinished } from './helpers.js';
import { deleteKeys, redisUrl, uniqueName } from './redis.js';

const handlers = fileURLToPath(new URL('./fixtures/handlers/', import.meta.url));

async function bullmqApp(queue: string) {
  const tasks = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue }), onError: () => {} });
  const app = express();
  app.use(express.json());
  workerRoutes(app, tasks);
  return { tasks, app };
}

dashboardContract('bullmqBackend()', async () => {
  const queue = uniqueName('dashboard');
  const { tasks, app } = await bullmqApp(queue);
  const worker = await startWorker({ connection: redisUrl, queue, concurrency: 4, allow: [handlers], threads: { gracePeriod: 200 }, onError: () => {} });
  return {
    tasks,
    app,
    async close() {
      await worker.close();
      await tasks.close();
      await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
    },
  };
});

bulkContract('bullmqBackend()', async () => {
  const queue = uniqueName('bulk');
  const tasks = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue }), onError: () => {}, ...ownerOption });
  const app = express();
  app.use(express.json());
  bulkRoutes(app, tasks);
  const worker = await startWorker({ connection: redisUrl, queue, concurrency: 8, allow: [handlers], threads: { gracePeriod: 200 }, onError: () => {} });
  return {
    tasks,
    app,
    async close() {
      await worker.close();
      await tasks.close();
      await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
    },
  };
});

describe('the dashboard with BullMQ', () => {
  it("shows in every web process every task in Redis, and the queue's worker processes", async () => {
    const queue = uniqueName('dashboard');
    const one = await bullmqApp(queue);
    const other = await bullmqApp(queue);
    const worker = await startWorker({ connection: redisUrl, queue, concurrency: 2, allow: [handlers], onError: () => {} });
    try {
      const submitted = await request(one.app).post('/echo/shared').send({}).expect(202);
      await untilFinished(request(one.app), submitted.headers.location);
      const listed = (await request(other.app).get('/admin/tasks/api/tasks').expect(200)).body.tasks;
      expect(listed.map((task: { id: string }) => task.id)).toEqual([submitted.body.id]);
      const stats = (await request(other.app).get('/admin/tasks/api/stats').expect(200)).body;
      expect(stats.counts.succeeded).toBe(1);
      expect(stats.routes.map((route: { route: string }) => route.route)).toEqual(['POST /echo/:id']);
      expect(stats.workers.length).toBeGreaterThanOrEqual(1);
      expect(stats.workers[0]).toMatchObject({ addr: expect.any(String) });
    } finally {
      await worker.close();
      await one.tasks.close();
      await other.tasks.close();
      await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
    }
  });
});

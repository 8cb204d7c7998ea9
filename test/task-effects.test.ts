// req.task.afterCommit(fn): effects that run, in order, once the task has succeeded and its
// reply is stored; dropped when it fails, is canceled or times out. Inline, in tasks from
// code, and on a worker thread.
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAsyncApi, type AsyncApi, type TaskRequest } from 'express-async-api';
import express from 'express';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { deferred, untilFinished } from './helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'task-effects-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const effectsModule = new URL('./fixtures/handlers/effects.mjs', import.meta.url);

let tasks: AsyncApi;
let errors: [unknown, string | undefined][];
afterEach(async () => {
  await tasks?.close({ timeout: 100 });
});

function setup(routes: (app: express.Express) => void) {
  errors = [];
  tasks = createAsyncApi({ threads: { max: 1, gracePeriod: 100 }, onError: (error, id) => errors.push([error, id]) });
  const app = express();
  app.use(express.json());
  routes(app);
  app.use(tasks.router);
  return app;
}

async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 2_000 && !condition(); turn++) await new Promise((resolve) => setTimeout(resolve, 2));
  if (!condition()) throw new Error('did not happen');
}

describe('req.task.afterCommit', () => {
  it('runs the effects in order once the reply is stored; a throw goes to onError with the task id, the next still runs', async () => {
    const ran: string[] = [];
    const app = setup((app) =>
      app.post(
        '/h',
        tasks.asyncApi((req: TaskRequest) => {
          const { id } = req.task;
          req.task.afterCommit(async () => ran.push(`stored: ${(await tasks.get(id))?.status}`));
          req.task.afterCommit(() => {
            throw new Error('the mailer is down');
          });
          req.task.afterCommit(() => ran.push('last'));
          expect(ran).toEqual([]);
          return { ok: true };
        }),
      ),
    );
    const submitted = await request(app).post('/h');
    expect((await untilFinished(request(app), submitted.headers.location)).status).toBe(200);
    await until(() => ran.length === 2);
    expect(ran).toEqual(['stored: succeeded', 'last']);
    expect(errors).toEqual([[new Error('the mailer is down'), submitted.body.id]]);
  });

  it('drops them when the task fails, is canceled or times out', async () => {
    const ran: string[] = [];
    const gate = deferred();
    const app = setup((app) => {
      app.post(
        '/fails',
        tasks.asyncApi((req: TaskRequest) => {
          req.task.afterCommit(() => ran.push('fails'));
          throw new Error('no');
        }),
      );
      app.post(
        '/canceled',
        tasks.asyncApi(async (req: TaskRequest) => {
          req.task.afterCommit(() => ran.push('canceled'));
          await gate.promise;
          return 1;
        }),
      );
      app.post(
        '/slow',
        tasks.asyncApi(async (req: TaskRequest) => {
          req.task.afterCommit(() => ran.push('timed out'));
          await gate.promise;
          return 1;
        }, { timeout: 20 }),
      );
    });
    const failed = await request(app).post('/fails');
    expect((await untilFinished(request(app), failed.headers.location)).status).toBe(500);
    const canceled = await request(app).post('/canceled');
    await until(() => true);
    await request(app).delete(canceled.headers.location!);
    const slow = await request(app).post('/slow');
    expect((await untilFinished(request(app), slow.headers.location)).status).toBe(504);
    gate.resolve();
    // A task that then succeeds (after its cancel) stores nothing, and runs nothing.
    const marker = tasks.define('marker', (_input, task) => task.afterCommit(() => ran.push('marker')));
    await (await marker.submit(1)).result();
    await until(() => ran.length > 0);
    expect(ran).toEqual(['marker']);
  });

  it("runs a worker module's effects on its thread, after the reply is stored; drops them when it fails", async () => {
    const app = setup((app) => {
      app.post('/commits', tasks.asyncApi.worker(effectsModule));
      app.post('/fails', tasks.asyncApi.worker(effectsModule, { export: 'fails' }));
    });
    const file = join(scratch, 'commits');
    const submitted = await request(app).post('/commits').send({ file });
    expect((await untilFinished(request(app), submitted.headers.location)).body).toEqual({ queued: 3 });
    await until(() => existsSync(file) && readFileSync(file, 'utf8') === 'first third');
    await until(() => errors.length === 1);
    expect(errors[0]![1]).toBe(submitted.body.id);
    expect((errors[0]![0] as Error).message).toBe('the second effect fails');
    const never = join(scratch, 'never');
    const failed = await request(app).post('/fails').send({ file: never });
    expect((await untilFinished(request(app), failed.headers.location)).status).toBe(500);
    // The thread's next task runs after whatever that task left: nothing.
    const after = join(scratch, 'after');
    await untilFinished(request(app), (await request(app).post('/commits').send({ file: after })).headers.location);
    await until(() => existsSync(after) && readFileSync(after, 'utf8') === 'first third');
    expect(existsSync(never)).toBe(false);
  });
});

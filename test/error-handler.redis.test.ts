// The errorHandler option with bullmqBackend(): handler modules fail on a worker process, which
// knows nothing of the web's options (the job says that an error handler answers, and the
// worker keeps the error's record), and the web process answers the failure through the app's
// error middleware, as the same error from a plain route: read with a GET of the monitor, a GET
// held by Prefer: wait, the submit's own Prefer: wait, or the event stream's done. Another web
// process, which never served the route, answers alike.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAsyncApi, type AsyncApi } from 'express-async-api';
import { bullmqBackend, startWorker, type TaskWorker } from 'express-async-api/bullmq';
import type { ErrorRequestHandler, Express, RequestHandler } from 'express';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appErrors,
  answers,
  appErrorsModule,
  eventsDone,
  failureCases,
  ownErrors,
  reads,
  type FailureApp,
} from './error-answers.js';
import { expressVersions } from './helpers.js';
import { listen } from './load.js';
import { deleteKeys, redisUrl, uniqueName } from './redis.js';

const handlers = new URL('./fixtures/handlers/', import.meta.url);
const fixtures = appErrorsModule;
const faults = new URL('faults.mjs', handlers);
const scratch = mkdtempSync(join(tmpdir(), 'error-handler-'));
let markers = 0;

// The id a waiting handler wrote to its marker file, once it runs (the file may be seen
// between its creation and its write: empty).
async function untilFile(path: string): Promise<string> {
  const read = () => (existsSync(path) ? readFileSync(path, 'utf8') : '');
  for (let turn = 0; turn < 5_000 && read() === ''; turn++) await new Promise((resolve) => setTimeout(resolve, 2));
  const id = read();
  if (id === '') throw new Error(`${path} was never written`);
  return id;
}

const queue = uniqueName('errors');
const throws: ErrorRequestHandler = (_err, _req, _res, _next) => {
  throw new Error('the error handler has a bug');
};
let worker: TaskWorker;
// What the worker process's onError heard of, by task: the errors the tasks failed with there.
const reported = new Map<string, unknown>();
const heardInWeb: unknown[] = [];

// The routes of the app, as every web process of it has them.
function routes(tasks: AsyncApi, app: Express, plain: { error: unknown }): void {
  app.post('/not-found', tasks.asyncApi.worker(fixtures, { export: 'notFound' }));
  app.post('/broken', tasks.asyncApi.worker(fixtures, { export: 'broken' }));
  app.post('/times-out', tasks.asyncApi.worker(fixtures, { export: 'waits', timeout: 150 }));
  // (Its timeout only bounds a task a failed test left running, which would hold a worker's slot.)
  app.post('/waits', tasks.asyncApi.worker(fixtures, { export: 'waits', timeout: 15_000 }));
  app.post('/crashes', tasks.asyncApi.worker(faults, { export: 'exits' }));
  app.post('/own', tasks.asyncApi.worker(fixtures, { export: 'notFound', errorHandler: ownErrors }));
  app.post('/handler-throws', tasks.asyncApi.worker(fixtures, { export: 'notFound', errorHandler: throws }));
  const passOn: RequestHandler = (_req, _res, next) => next(plain.error);
  app.post('/plain', passOn);
  app.post('/plain-own', passOn, ownErrors);
  app.use(tasks.router);
  app.use(appErrors);
}

const webApi = () =>
  createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue, workerCheckInterval: 0 }), errorHandler: appErrors, onError: (error) => void heardInWeb.push(error) });

beforeAll(async () => {
  worker = await startWorker({
    connection: redisUrl,
    queue,
    concurrency: 2,
    allow: [fileURLToPath(handlers)],
    threads: { gracePeriod: 200 },
    onError: (error, id) => void reported.set(id!, error),
  });
});

afterAll(async () => {
  await worker.close();
  rmSync(scratch, { recursive: true, force: true });
  await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
});

describe.each(expressVersions)('%s', (_version, express) => {
  let tasks: AsyncApi;
  let app: Express;
  let server: Server;
  let close: () => Promise<void>;
  const plain: { error: unknown } = { error: undefined };

  beforeAll(async () => {
    tasks = webApi();
    app = express();
    app.use(express.json());
    routes(tasks, app, plain);
    ({ server, close } = await listen(app));
  });

  afterAll(async () => {
    await close();
    await tasks.close();
  });

  // The waiting handler writes its task's id to the file its body names.
  const answerOf = answers(
    () => ({ app, server, tasks }),
    () => {
      const marker = join(scratch, `marker-${++markers}`);
      return { body: { marker }, running: () => untilFile(marker) };
    },
  );

  const suite = (): FailureApp => ({ app, plain, answerOf, lastCrash: () => [...reported.values()].findLast((error) => (error as Error).name === 'WorkerCrashedError') });
  describe.each(reads)('read by %s', (read) => {
    failureCases(read, suite, { notFound: ['/not-found'], broken: ['/broken'], timeout: 150 });

    it('an error handler that throws: the problem document answers, as with none', async () => {
      const problem = { type: 'about:blank', title: 'Not Found', status: 404, detail: 'There is no report 7.' };
      if (read === 'event stream') {
        const submitted = await request(app).post('/handler-throws').send({});
        const done = await eventsDone(server, submitted.headers.location!);
        expect(done.reply).toBeUndefined();
        expect(done.problem).toEqual({ ...problem, instance: submitted.headers.location });
        return;
      }
      const answer = await answerOf('/handler-throws', read);
      expect(answer.status).toBe(404);
      expect(answer.headers['content-type']).toBe('application/problem+json');
      const { instance: _instance, ...document } = JSON.parse(Buffer.from(answer.body, 'hex').toString()) as Record<string, unknown>;
      expect(document).toEqual(problem);
    });
  });
});

describe('what a worker process keeps, and another web process', () => {
  let web: AsyncApi;
  let other: AsyncApi;
  let app: Express;
  let otherApp: Express;
  let server: Server;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const { default: express } = await import('express');
    web = webApi();
    other = webApi();
    app = express();
    app.use(express.json());
    routes(web, app, { error: undefined });
    otherApp = express();
    otherApp.use(express.json());
    routes(other, otherApp, { error: undefined });
    ({ server, close } = await listen(app));
  });

  afterAll(async () => {
    await close();
    await Promise.all([web.close(), other.close()]);
  });

  it('the job tells the worker that an error handler answers; the worker keeps the record in Redis, without a stack', async () => {
    const marker = join(scratch, `marker-${++markers}`);
    const submitted = await request(app).post('/waits').send({ marker });
    const id = await untilFile(marker);
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const inspect = new Queue(queue, { connection });
    try {
      expect((await inspect.getJob(id))?.data.errorKey).toBe(0);
      await web.cancel(id);
      const failed = await request(app).post('/own');
      await web.wait(failed.body.id);
      const stored = JSON.parse((await connection.get(`{express-async-api:${queue}}:task:${failed.body.id}`))!) as { x: { error: Record<string, unknown> } };
      expect(stored.x.error).toEqual({
        name: 'Error',
        message: 'There is no report 7.',
        status: 404,
        code: 'not_found',
        properties: { details: { report: 7, tried: ['a', 'b'] }, headers: { 'X-Hint': 'try report 8' } },
        // The route's own handler: the first after the global one.
        handler: 1,
      });
      expect(JSON.stringify(stored)).not.toContain('stack');
    } finally {
      await inspect.close();
      connection.disconnect();
    }
    expect(submitted.status).toBe(202);
  });

  it("another web process that never served the route answers a failure through the route's own handler", async () => {
    const submitted = await request(app).post('/own');
    await web.wait(submitted.body.id);
    const read = await request(otherApp).get(submitted.headers.location!);
    expect(read.status).toBe(404);
    expect(read.text).toBe('own: not_found');
    const global = await request(app).post('/not-found');
    await web.wait(global.body.id);
    const globalRead = await request(otherApp).get(global.headers.location!).set('Prefer', 'wait=5');
    expect(globalRead.status).toBe(404);
    expect(globalRead.body).toEqual({ error: { code: 'not_found', message: 'There is no report 7.', details: { report: 7, tried: ['a', 'b'] } } });
    expect(server.listening).toBe(true);
  });

  it('onError of the web process hears of an error handler that throws', async () => {
    const before = heardInWeb.length;
    const submitted = await request(app).post('/handler-throws').set('Prefer', 'wait=20');
    expect(submitted.status).toBe(404);
    expect(heardInWeb.slice(before).map((error) => (error as Error).message)).toContain('the error handler has a bug');
  });
});

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { Worker } from 'node:worker_threads';
import {
  createAsyncApi,
  InvalidArgumentError,
  MemoryStore,
  memoryBackend,
  InvalidOptionError,
  problemTypes,
  ShuttingDownError,
  TaskCanceledError,
  TaskTimeoutError,
  type AsyncApi,
  type AsyncApiOptions,
  type TaskRequest,
} from 'express-async-api';
import type { Express, Request } from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { deferred, expressVersions, makeApp, untilFinished, untilStatus, uuidV4 } from './helpers.js';

describe.each(expressVersions)('%s', (_name, express) => {
  let tasks: AsyncApi;
  afterEach(async () => {
    await tasks?.close({ timeout: 50 });
  });

  function setup(options: AsyncApiOptions<Request> | undefined, routes: (app: Express, tasks: AsyncApi) => void): Express {
    tasks = createAsyncApi(options);
    return makeApp(express, (app) => {
      routes(app, tasks);
      app.use(tasks.router);
    });
  }

  describe('submit', () => {
    it('answers 202 with Location, Retry-After and a status document', async () => {
      const app = setup({ retryAfter: 3 }, (app, tasks) => app.post('/reports', tasks.asyncApi(() => ({ ok: true }))));
      const response = await request(app).post('/reports').send({ n: 1 });
      expect(response.status).toBe(202);
      expect(response.headers['retry-after']).toBe('3');
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.body.id).toMatch(uuidV4);
      expect(response.headers.location).toBe(`/status/${response.body.id}`);
      expect(response.body).toEqual({ id: response.body.id, status: 'queued', createdAt: expect.any(String) });
      expect(new Date(response.body.createdAt).toISOString()).toBe(response.body.createdAt);
    });

    it('gives each task its own id', async () => {
      const app = setup(undefined, (app, tasks) => app.post('/r', tasks.asyncApi(() => 1)));
      const ids = new Set<string>();
      for (let i = 0; i < 20; i++) ids.add((await request(app).post('/r')).body.id);
      expect(ids.size).toBe(20);
    });

    it('uses the statusPath option, under the prefix the app is mounted at', async () => {
      tasks = createAsyncApi({ statusPath: '/jobs/status' });
      const api = makeApp(express, (app) => {
        app.post('/reports', tasks.asyncApi(() => ({ done: 1 })));
        app.use(tasks.router);
      });
      const outer = express();
      outer.use('/api/v1', api);
      const submitted = await request(outer).post('/api/v1/reports');
      expect(submitted.headers.location).toBe(`/api/v1/jobs/status/${submitted.body.id}`);
      const done = await untilFinished(request(outer), submitted.headers.location);
      expect(done.status).toBe(200);
      expect(done.body).toEqual({ done: 1 });
    });

    it('runs the handler only after the 202 has reached the client', async () => {
      // The handler blocks the event loop until a client on another thread has read the
      // 202. Had the handler run first, the 202 could not be sent and the wait would time out.
      const flag = new Int32Array(new SharedArrayBuffer(4));
      const app = setup(undefined, (app, tasks) =>
        app.post(
          '/blocking',
          tasks.asyncApi(() => ({ wait: Atomics.wait(flag, 0, 0, 10_000) })),
        ),
      );
      const server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      const { port } = server.address() as { port: number };
      const client = new Worker(
        `const { workerData, parentPort } = require('node:worker_threads');
         fetch(workerData.url, { method: 'POST' }).then(async (response) => {
           Atomics.store(workerData.flag, 0, 1);
           Atomics.notify(workerData.flag, 0);
           parentPort.postMessage({ status: response.status, location: response.headers.get('location') });
         });`,
        { eval: true, workerData: { url: `http://127.0.0.1:${port}/blocking`, flag } },
      );
      const accepted = await new Promise<{ status: number; location: string }>((resolve) => client.once('message', resolve));
      await client.terminate();
      expect(accepted.status).toBe(202);
      const done = await untilFinished(request(server), accepted.location);
      server.close();
      expect(done.body).toEqual({ wait: 'ok' });
    });

    it('gives the handler the real request: body, params, query, headers, app', async () => {
      const app = setup(undefined, (app, tasks) => {
        app.set('title', 'the app');
        app.post(
          '/items/:itemId',
          tasks.asyncApi((req) => ({
            body: req.body,
            params: req.params,
            query: req.query,
            header: req.get('x-custom'),
            title: req.app.get('title'),
            taskId: req.task.id,
          })),
        );
      });
      const submitted = await request(app).post('/items/42?verbose=yes').set('X-Custom', 'hello').send({ a: [1, 2] });
      const done = await untilFinished(request(app), submitted.headers.location);
      expect(done.body).toEqual({
        body: { a: [1, 2] },
        params: { itemId: '42' },
        query: { verbose: 'yes' },
        header: 'hello',
        title: 'the app',
        taskId: submitted.body.id,
      });
    });

    it('rejects a handler that is not a function and route options it does not know', () => {
      tasks = createAsyncApi();
      expect(() => tasks.asyncApi('nope' as never)).toThrow(InvalidArgumentError);
      expect(() => tasks.asyncApi('nope' as never)).toThrow('asyncApi() takes an Express handler function, got "nope"');
      expect(() => tasks.asyncApi(() => 1, { timeout: -5 })).toThrow(
        'routeOptions.timeout must be a positive number of milliseconds up to 2147483647, got -5',
      );
      expect(() => tasks.asyncApi(() => 1, { timout: 5 } as never)).toThrow(InvalidOptionError);
    });
  });

  describe('monitor while live', () => {
    it('answers 202 with progress and message, the same Location and Retry-After', async () => {
      const release = deferred();
      const reported = deferred();
      const app = setup(undefined, (app, tasks) =>
        app.post(
          '/slow',
          tasks.asyncApi(async (req: TaskRequest) => {
            req.task.progress(0.25, 'a quarter');
            reported.resolve();
            await release.promise;
            return { finished: true };
          }),
        ),
      );
      const submitted = await request(app).post('/slow');
      await reported.promise;
      const live = await request(app).get(submitted.headers.location!);
      expect(live.status).toBe(202);
      expect(live.headers.location).toBe(submitted.headers.location);
      expect(live.headers['retry-after']).toBe('1');
      expect(Object.keys(live.body)).toEqual(['id', 'status', 'progress', 'message', 'createdAt', 'startedAt']);
      expect(live.body).toMatchObject({ id: submitted.body.id, status: 'running', progress: 0.25, message: 'a quarter' });
      release.resolve();
      const done = await untilFinished(request(app), submitted.headers.location);
      expect(done.status).toBe(200);
      expect(done.body).toEqual({ finished: true });
    });

    it('keeps tasks beyond `concurrency` queued until a slot frees', async () => {
      const gates = [deferred(), deferred()];
      let calls = 0;
      const app = setup({ concurrency: 1 }, (app, tasks) =>
        app.post(
          '/one-at-a-time',
          tasks.asyncApi(async () => {
            const mine = calls++;
            await gates[mine]!.promise;
            return { mine };
          }),
        ),
      );
      const first = await request(app).post('/one-at-a-time');
      const second = await request(app).post('/one-at-a-time');
      await untilStatus(request(app), first.headers.location, 'running');
      expect((await request(app).get(second.headers.location!)).body.status).toBe('queued');
      gates[0]!.resolve();
      expect((await untilFinished(request(app), first.headers.location)).body).toEqual({ mine: 0 });
      await untilStatus(request(app), second.headers.location, 'running');
      gates[1]!.resolve();
      expect((await untilFinished(request(app), second.headers.location)).body).toEqual({ mine: 1 });
    });

    it('refuses progress that is not a fraction, with an error the handler can catch', async () => {
      const app = setup(undefined, (app, tasks) =>
        app.post(
          '/bad-progress',
          tasks.asyncApi((req: TaskRequest) => {
            const errors: string[] = [];
            for (const bad of [2, -0.1, Number.NaN, '0.5']) {
              try {
                req.task.progress(bad as number);
              } catch (error) {
                errors.push(`${(error as Error).name}: ${(error as Error).message}`);
              }
            }
            return { errors };
          }),
        ),
      );
      const submitted = await request(app).post('/bad-progress');
      const done = await untilFinished(request(app), submitted.headers.location);
      expect(done.body.errors).toEqual([
        'InvalidArgumentError: progress() takes a fraction from 0 to 1, got 2',
        'InvalidArgumentError: progress() takes a fraction from 0 to 1, got -0.1',
        'InvalidArgumentError: progress() takes a fraction from 0 to 1, got NaN',
        'InvalidArgumentError: progress() takes a fraction from 0 to 1, got "0.5"',
      ]);
    });
  });

  describe('replay of a success', () => {
    async function replayOf(handler: Parameters<AsyncApi['asyncApi']>[0]) {
      const app = setup(undefined, (app, tasks) => app.post('/h', tasks.asyncApi(handler)));
      const submitted = await request(app).post('/h');
      return untilFinished(request(app), submitted.headers.location);
    }

    it('replays status, headers, cookies and body', async () => {
      const done = await replayOf((_req, res) => {
        res.status(201).set('X-Report', 'r-1').cookie('session', 'abc', { httpOnly: true }).cookie('b', '2').json({ id: 'r-1' });
      });
      expect(done.status).toBe(201);
      expect(done.headers['x-report']).toBe('r-1');
      expect(done.headers['set-cookie']).toEqual(['session=abc; Path=/; HttpOnly', 'b=2; Path=/']);
      expect(done.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(done.body).toEqual({ id: 'r-1' });
    });

    it('stays readable: every read replays the same response', async () => {
      const app = setup(undefined, (app, tasks) => app.post('/h', tasks.asyncApi((_req, res) => res.status(201).send('made'))));
      const submitted = await request(app).post('/h');
      const first = await untilFinished(request(app), submitted.headers.location);
      const second = await request(app).get(submitted.headers.location!);
      expect([first.status, first.text, second.status, second.text]).toEqual([201, 'made', 201, 'made']);
    });

    it('replays a returned value as 200 JSON, and nothing as 204', async () => {
      expect((await replayOf(async () => ({ total: 3 }))).body).toEqual({ total: 3 });
      expect((await replayOf(() => [1, 2])).body).toEqual([1, 2]);
      const empty = await replayOf(async () => undefined);
      expect(empty.status).toBe(204);
      expect(empty.text).toBe('');
    });

    it('waits for a callback-style handler to end the response', async () => {
      const done = await replayOf((_req, res) => {
        setImmediate(() => res.send('later'));
      });
      expect(done.status).toBe(200);
      expect(done.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(done.text).toBe('later');
    });

    it('replays binary bodies, written chunks and piped streams byte for byte', async () => {
      const bytes = Buffer.from([0, 255, 1, 254, 2]);
      const binary = await replayOf((_req, res) => res.type('png').send(bytes));
      expect(binary.headers['content-type']).toBe('image/png');
      expect(Buffer.compare(binary.body as Buffer, bytes)).toBe(0);

      const chunked = await replayOf((_req, res) => {
        res.writeHead(207, { 'Content-Type': 'text/plain' });
        res.write('one,');
        res.write(Buffer.from('two,'));
        res.end('three');
      });
      expect([chunked.status, chunked.text]).toEqual([207, 'one,two,three']);

      const piped = await replayOf((_req, res) => {
        res.type('text');
        Readable.from(['a', 'b', 'c']).pipe(res as unknown as NodeJS.WritableStream);
      });
      expect(piped.text).toBe('abc');
    });

    it('replays redirects and sendStatus as Express writes them', async () => {
      const redirect = await replayOf((_req, res) => res.redirect(303, '/reports/7'));
      expect(redirect.status).toBe(303);
      expect(redirect.headers.location).toBe('/reports/7');
      const status = await replayOf((_req, res) => res.sendStatus(201));
      expect([status.status, status.text]).toEqual([201, 'Created']);
    });
  });

  describe('failures', () => {
    async function failureOf(handler: Parameters<AsyncApi['asyncApi']>[0], options?: AsyncApiOptions<Request>) {
      const app = setup({ onError: () => {}, ...options }, (app, tasks) => app.post('/h', tasks.asyncApi(handler)));
      const submitted = await request(app).post('/h');
      const done = await untilFinished(request(app), submitted.headers.location);
      return { done, monitor: submitted.headers.location as string };
    }

    it('answers a thrown error with a 500 problem document without its message or stack', async () => {
      const { done, monitor } = await failureOf(() => {
        throw new Error('database password is hunter2');
      });
      expect(done.status).toBe(500);
      expect(done.headers['content-type']).toBe('application/problem+json');
      expect(done.body).toEqual({ type: 'about:blank', title: 'Internal Server Error', status: 500, instance: monitor });
      expect(done.text).not.toContain('hunter2');
    });

    it('uses an HTTP error status and shows 4xx messages', async () => {
      const { done } = await failureOf(async () => {
        throw Object.assign(new Error('The period must end after it starts'), { status: 422 });
      });
      expect(done.status).toBe(422);
      expect(done.body).toMatchObject({ title: 'Unprocessable Entity', status: 422, detail: 'The period must end after it starts' });
      const statusCode = await failureOf(() => {
        throw Object.assign(new Error('gone'), { statusCode: 410 });
      });
      expect(statusCode.done.status).toBe(410);
      const outOfRange = await failureOf(() => {
        throw Object.assign(new Error('weird'), { status: 302 });
      });
      expect(outOfRange.done.status).toBe(500);
    });

    it('shows 5xx messages with exposeErrors', async () => {
      const { done } = await failureOf(
        () => {
          throw new Error('upstream said no');
        },
        { exposeErrors: true },
      );
      expect(done.body).toMatchObject({ status: 500, detail: 'upstream said no' });
    });

    it('fails on next(error), on a rejection, and with 404 on next()', async () => {
      const viaNext = await failureOf((_req, _res, next) => next(Object.assign(new Error('nope'), { status: 403 })));
      expect(viaNext.done.body).toMatchObject({ status: 403, detail: 'nope' });
      const rejected = await failureOf(() => Promise.reject(Object.assign(new Error('bad'), { status: 400 })));
      expect(rejected.done.body).toMatchObject({ status: 400, detail: 'bad' });
      const passed = await failureOf((_req, _res, next) => next());
      expect(passed.done.body).toMatchObject({ status: 404, title: 'Not Found' });
    });

    it('fails a handler that throws from inside res.format, with a 500 problem', async () => {
      const { done } = await failureOf((_req, res) => {
        res.format({
          json: () => {
            throw new Error('no JSON today');
          },
        });
      });
      expect(done.status).toBe(500);
      expect(done.text).not.toContain('no JSON today');
    });

    it('fails a sendFile of a missing file with Express\'s 404, without the server path', async () => {
      const missing = join(tmpdir(), 'express-async-api-missing', 'report.pdf');
      const { done } = await failureOf((_req, res) => res.sendFile(missing));
      expect(done.status).toBe(404);
      expect(done.body).toMatchObject({ type: 'about:blank', title: 'Not Found', status: 404 });
      expect(done.text).not.toContain('express-async-api-missing');
    });

    it('fails a render of a missing view with a 500 problem', async () => {
      const { done } = await failureOf((_req, res) => res.render('no-such-view'));
      expect(done.status).toBe(500);
      expect(done.text).not.toContain('no-such-view');
    });

    it('fails a task whose body stream errors midway (stream.pipeline), and drops what it wrote', async () => {
      const store = new MemoryStore();
      const { done } = await failureOf((_req, res) => {
        const body = new Readable({ read() {} });
        pipeline(body, res, () => {});
        body.push('first half,');
        setImmediate(() => body.destroy(Object.assign(new Error('disk went away'), { status: 502 })));
      }, { backend: memoryBackend({ store }) });
      expect(done.status).toBe(502);
      expect(done.text).not.toContain('first half');
      expect(store.watcherCount()).toBe(0);
    });

    it('reports each failure to onError', async () => {
      const seen: [string, string][] = [];
      const app = setup({ onError: (error, id) => seen.push([(error as Error).message, String(id)]) }, (app, tasks) =>
        app.post(
          '/h',
          tasks.asyncApi(() => {
            throw new Error('boom');
          }),
        ),
      );
      const submitted = await request(app).post('/h');
      await untilFinished(request(app), submitted.headers.location);
      expect(seen).toEqual([['boom', submitted.body.id]]);
    });
  });

  describe('timeouts', () => {
    it('aborts the signal and answers a 504 problem that says the task timed out', async () => {
      const aborted = deferred<unknown>();
      const app = setup({ onError: () => {} }, (app, tasks) =>
        app.post(
          '/stuck',
          tasks.asyncApi(
            (req: TaskRequest, res) => {
              req.task.signal.addEventListener('abort', () => {
                aborted.resolve(req.task.signal.reason);
                res.status(200).send('too late'); // dropped
              });
            },
            { timeout: 20 },
          ),
        ),
      );
      const submitted = await request(app).post('/stuck');
      const done = await untilFinished(request(app), submitted.headers.location);
      expect(await aborted.promise).toBeInstanceOf(TaskTimeoutError);
      expect(done.status).toBe(504);
      expect(done.body).toEqual({
        type: problemTypes.taskTimedOut,
        title: 'Task timed out',
        status: 504,
        instance: submitted.headers.location,
      });
    });
  });

  describe('cancel', () => {
    it('aborts the signal, answers the canceled status document, and drops later writes', async () => {
      const aborted = deferred<unknown>();
      const started = deferred();
      const app = setup(undefined, (app, tasks) =>
        app.post(
          '/long',
          tasks.asyncApi((req: TaskRequest, res) => {
            started.resolve();
            req.task.signal.addEventListener('abort', () => {
              aborted.resolve(req.task.signal.reason);
              res.json({ written: 'after the cancel' });
            });
          }),
        ),
      );
      const submitted = await request(app).post('/long');
      await started.promise;
      const canceled = await request(app).delete(submitted.headers.location!);
      expect(canceled.status).toBe(200);
      expect(canceled.body).toMatchObject({ id: submitted.body.id, status: 'canceled', finishedAt: expect.any(String) });
      expect(await aborted.promise).toBeInstanceOf(TaskCanceledError);
      const monitor = await request(app).get(submitted.headers.location!);
      expect(monitor.status).toBe(409);
      expect(monitor.body).toMatchObject({ type: problemTypes.taskCanceled, title: 'Task canceled', status: 409 });
    });

    it('cancels a queued task before it starts', async () => {
      const gate = deferred();
      let runs = 0;
      const app = setup({ concurrency: 1 }, (app, tasks) =>
        app.post(
          '/q',
          tasks.asyncApi(async () => {
            runs++;
            await gate.promise;
            return 'ok';
          }),
        ),
      );
      const first = await request(app).post('/q');
      const second = await request(app).post('/q');
      await untilStatus(request(app), first.headers.location, 'running');
      expect((await request(app).delete(second.headers.location!)).body.status).toBe('canceled');
      gate.resolve();
      await untilFinished(request(app), first.headers.location);
      expect(runs).toBe(1);
    });

    it('answers 409 for a finished task and 404 for an unknown one', async () => {
      const app = setup(undefined, (app, tasks) => app.post('/h', tasks.asyncApi(() => 'done')));
      const submitted = await request(app).post('/h');
      await untilFinished(request(app), submitted.headers.location);
      const again = await request(app).delete(submitted.headers.location!);
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ type: problemTypes.taskFinished, status: 409 });
      expect((await request(app).get(submitted.headers.location!)).text).toBe('"done"');
      const unknown = await request(app).delete('/status/7c9e6679-7425-40de-944b-e07fc1f90ae7');
      expect(unknown.status).toBe(404);
    });
  });

  describe('unknown ids and other requests', () => {
    const ids = ['__proto__', 'constructor', 'x'.repeat(5000), '%E0%A4%A', '%25%00', '..%2F..%2Fetc', 'hasOwnProperty', '%'];
    it.each(ids.map((id) => [id.length > 40 ? `${id.slice(0, 10)}… (${id.length} chars)` : id, id]))(
      'answers 404 with a problem document for %s',
      async (_label, id) => {
        const app = setup(undefined, () => {});
        for (const method of ['get', 'delete'] as const) {
          const response = await request(app)[method](`/status/${id}`);
          expect(response.status).toBe(404);
          expect(response.headers['content-type']).toBe('application/problem+json');
          expect(response.body).toMatchObject({ type: problemTypes.taskNotFound, title: 'Task not found', status: 404 });
        }
      },
    );

    it('answers 405 with Allow for other methods, and HEAD like GET', async () => {
      const app = setup(undefined, (app, tasks) => app.post('/h', tasks.asyncApi(() => 'x')));
      const submitted = await request(app).post('/h');
      const put = await request(app).put(submitted.headers.location!);
      expect(put.status).toBe(405);
      expect(put.headers.allow).toBe('GET, HEAD, DELETE');
      await untilFinished(request(app), submitted.headers.location);
      const head = await request(app).head(submitted.headers.location!);
      expect(head.status).toBe(200);
      expect(head.headers['content-type']).toBe('application/json; charset=utf-8');
    });

    it('passes other paths on to the app', async () => {
      const app = setup(undefined, (app) => app.get('/status', (_req, res) => res.send('health')));
      expect((await request(app).get('/status')).text).toBe('health');
      expect((await request(app).get('/status/a/b')).status).toBe(404);
      expect((await request(app).get('/status/a/b')).headers['content-type']).not.toBe('application/problem+json');
    });
  });

  describe('limits and shutdown', () => {
    it('answers 503 with Retry-After at maxTasks and registers nothing', async () => {
      const gate = deferred();
      const app = setup({ maxTasks: 2, retryAfter: 7 }, (app, tasks) =>
        app.post(
          '/h',
          tasks.asyncApi(async () => {
            await gate.promise;
            return 1;
          }),
        ),
      );
      const accepted = [await request(app).post('/h'), await request(app).post('/h')];
      const refused = await request(app).post('/h');
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('7');
      expect(refused.headers.location).toBeUndefined();
      expect(refused.body).toMatchObject({ type: problemTypes.taskLimit, title: 'Too many tasks', status: 503 });
      gate.resolve();
      for (const response of accepted) expect((await untilFinished(request(app), response.headers.location)).status).toBe(200);
    });

    it('after close(): submissions get 503, running tasks finish, the monitor still answers', async () => {
      const gate = deferred();
      const started = deferred();
      const app = setup(undefined, (app, tasks) =>
        app.post(
          '/h',
          tasks.asyncApi(async () => {
            started.resolve();
            await gate.promise;
            return { finished: 'during close' };
          }),
        ),
      );
      const submitted = await request(app).post('/h');
      await started.promise;
      const closed = tasks.close({ timeout: 10_000 });
      const refused = await request(app).post('/h');
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ type: problemTypes.shuttingDown });
      gate.resolve();
      await closed;
      expect((await request(app).get(submitted.headers.location!)).body).toEqual({ finished: 'during close' });
    });

    it('close() aborts tasks still running at its deadline: they fail with 503', async () => {
      const reason = deferred<unknown>();
      const app = setup({ onError: () => {} }, (app, tasks) =>
        app.post(
          '/h',
          tasks.asyncApi((req: TaskRequest) => {
            req.task.signal.addEventListener('abort', () => reason.resolve(req.task.signal.reason));
          }),
        ),
      );
      const submitted = await request(app).post('/h');
      await untilStatus(request(app), submitted.headers.location, 'running');
      await tasks.close({ timeout: 10 });
      expect(await reason.promise).toBeInstanceOf(ShuttingDownError);
      const monitor = await request(app).get(submitted.headers.location!);
      expect(monitor.status).toBe(503);
      expect(monitor.body).toEqual({ type: problemTypes.shuttingDown, title: 'Shutting down', status: 503, instance: submitted.headers.location });
    });
  });

  describe('readOnce', () => {
    it('the first GET that receives the answer takes it: later reads get 404; HEAD and a 202 take nothing', async () => {
      const gate = deferred();
      const app = setup(undefined, (app, tasks) =>
        app.post(
          '/once',
          tasks.asyncApi(async () => {
            await gate.promise;
            return { secret: 42 };
          }, { readOnce: true }),
        ),
      );
      const submitted = await request(app).post('/once');
      const location = submitted.headers.location!;
      expect((await request(app).get(location)).status).toBe(202);
      expect((await request(app).get(location).set('Prefer', 'wait=0')).status).toBe(202);
      gate.resolve();
      for (let polls = 0; polls < 1_000; polls++) {
        if ((await request(app).head(location)).status !== 202) break;
      }
      expect((await request(app).head(location)).status).toBe(200);
      const first = await request(app).get(location);
      expect(first.status).toBe(200);
      expect(first.body).toEqual({ secret: 42 });
      const again = await request(app).get(location);
      expect(again.status).toBe(404);
      expect(again.body.type).toBe(problemTypes.taskNotFound);
    });

    it('of many concurrent readers, exactly one gets the answer', async () => {
      const app = setup(undefined, (app, tasks) => app.post('/once', tasks.asyncApi(() => ({ secret: 7 }), { readOnce: true })));
      const submitted = await request(app).post('/once');
      const location = submitted.headers.location!;
      for (let polls = 0; polls < 1_000; polls++) {
        if ((await request(app).head(location)).status !== 202) break;
      }
      const reads = await Promise.all(Array.from({ length: 20 }, () => request(app).get(location)));
      expect(reads.map((read) => read.status).sort()).toEqual([200, ...Array<number>(19).fill(404)]);
    });

    it('a submit with Prefer: wait that receives the answer takes it; an event stream\'s done takes it', async () => {
      const ids: string[] = [];
      const app = setup(undefined, (app, tasks) =>
        app.post(
          '/once',
          tasks.asyncApi((req: TaskRequest) => {
            ids.push(req.task.id);
            return { secret: 1 };
          }, { readOnce: true }),
        ),
      );
      const waited = await request(app).post('/once').set('Prefer', 'wait=5');
      expect(waited.status).toBe(200);
      expect(waited.body).toEqual({ secret: 1 });
      expect((await request(app).get(`/status/${ids[0]}`)).status).toBe(404);
      const streamed = await request(app).post('/once');
      const location = streamed.headers.location!;
      for (let polls = 0; polls < 1_000; polls++) {
        if ((await request(app).head(location)).status !== 202) break;
      }
      const events = await request(app).get(location).set('Accept', 'text/event-stream');
      expect(events.text).toMatch(/event: done\ndata: [^\n]*"secret\\":1/);
      expect((await request(app).get(location)).status).toBe(404);
    });

    it('a range or conditional GET, or a HEAD waiting beside a GET, takes nothing and breaks nothing', async () => {
      const gate = deferred();
      const store = new MemoryStore();
      const app = setup({ backend: memoryBackend({ store }) }, (app, tasks) => app.post('/once', tasks.asyncApi(async (_req, res) => {
        await gate.promise;
        res.set('Accept-Ranges', 'bytes').send('0123456789');
      }, { readOnce: true })));
      const submitted = await request(app).post('/once');
      const location = submitted.headers.location!;
      const waiting = [request(app).get(location).set('Prefer', 'wait=5'), request(app).head(location).set('Prefer', 'wait=5')].map((test) => test.then((answer) => answer));
      // Both wait (beside the task's runner) before it ends.
      for (let turns = 0; turns < 1_000 && store.watcherCount(submitted.body.id) < 3; turns++) await new Promise((resolve) => setTimeout(resolve, 1));
      expect(store.watcherCount(submitted.body.id)).toBe(3);
      gate.resolve();
      const [got, head] = await Promise.all(waiting);
      expect(got!.status).toBe(200);
      expect(head!.status).toBe(200);
      const second = (await request(app).post('/once')).headers.location!;
      for (let polls = 0; polls < 1_000 && (await request(app).head(second)).status === 202; polls++);
      const ranged = await request(app).get(second).set('Range', 'bytes=0-3');
      expect(ranged.status).toBe(206);
      expect((await request(app).get(second).set('If-None-Match', ranged.headers.etag ?? '"x"')).status).not.toBe(404);
      const whole = await request(app).get(second);
      expect(whole.status).toBe(200);
      expect(whole.text).toBe('0123456789');
      expect((await request(app).get(second)).status).toBe(404);
    });

    it('names a readOnce that is not a boolean', () => {
      tasks = createAsyncApi();
      expect(() => tasks.asyncApi(() => 1, { readOnce: 'yes' as never })).toThrow('routeOptions.readOnce must be true or false, got "yes"');
    });
  });

  describe('owner', () => {
    it('shows and cancels a task only for requests of the same owner', async () => {
      const gate = deferred();
      const app = setup({ owner: (req) => req.get('x-user') }, (app, tasks) =>
        app.post(
          '/mine',
          tasks.asyncApi(async () => {
            await gate.promise;
            return 'secret';
          }),
        ),
      );
      const submitted = await request(app).post('/mine').set('X-User', 'alice');
      const monitor = submitted.headers.location!;
      for (const user of ['mallory', undefined]) {
        const get = request(app).get(monitor);
        const del = request(app).delete(monitor);
        if (user) {
          get.set('X-User', user);
          del.set('X-User', user);
        }
        expect((await get).status).toBe(404);
        expect((await del).status).toBe(404);
      }
      expect((await request(app).get(monitor).set('X-User', 'alice')).status).toBe(202);
      gate.resolve();
      const asAlice = { get: (url: string) => request(app).get(url).set('X-User', 'alice') };
      expect((await untilFinished(asAlice, monitor)).text).toBe('"secret"');
    });

    it('passes an owner function that returns a non-string to the app as an error', async () => {
      const app = setup({ owner: () => 42 as never }, (app, tasks) => {
        app.post('/h', tasks.asyncApi(() => 1));
        app.use((error: Error, _req: Request, res: import('express').Response, _next: import('express').NextFunction) => {
          res.status(500).send(error.message);
        });
      });
      const response = await request(app).post('/h');
      expect(response.status).toBe(500);
      expect(response.text).toBe('options.owner must return a string or undefined, got 42');
    });
  });
});

// The errorHandler option, in memory: a failed or canceled task answers through the app's own
// error middleware, as the same error does from a plain route: the same status, headers and
// body bytes (less Date and Connection), whether read with a GET of the monitor, a GET held by
// Prefer: wait, the submit's own Prefer: wait, or the event stream's done event. On Express 4
// and 5, for inline handlers and handler modules on threads.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createAsyncApi,
  memoryBackend,
  MemoryStore,
  InvalidOptionError,
  type AsyncApi,
} from 'express-async-api';
import type { ErrorRequestHandler, Express, RequestHandler } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  appErrors,
  appErrorsModule,
  brokenError,
  answers,
  failureCases,
  notFoundError,
  ownErrors,
  reads,
  type FailureApp,
} from './error-answers.js';
import { comparable, deferred, exchange, expressVersions, wireComparable, type Deferred } from './helpers.js';
import { listen } from './load.js';

const faults = new URL('./fixtures/handlers/faults.mjs', import.meta.url);

describe.each(expressVersions)('%s', (_version, express) => {
  let tasks: AsyncApi;
  let app: Express;
  let server: Server;
  let close: () => Promise<void>;
  // The errors onError heard of; what the plain routes pass to next().
  const reported: unknown[] = [];
  const plain: { error: unknown } = { error: undefined };
  // The task of the waiting routes, once it runs.
  let started: Deferred<string>;
  const waitsForAbort = async (req: { task: { id: string; signal: AbortSignal } }) => {
    started.resolve(req.task.id);
    const { signal } = req.task;
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    throw signal.reason;
  };

  beforeAll(async () => {
    tasks = createAsyncApi({ errorHandler: appErrors, onError: (error) => void reported.push(error), threads: { max: 2 } });
    app = express();
    app.use(express.json());
    app.post('/not-found', tasks.asyncApi(() => Promise.reject(notFoundError())));
    app.post('/broken', tasks.asyncApi((_req, _res, next) => next(brokenError())));
    app.post('/worker/not-found', tasks.asyncApi.worker(appErrorsModule, { export: 'notFound' }));
    app.post('/worker/broken', tasks.asyncApi.worker(appErrorsModule, { export: 'broken' }));
    app.post('/times-out', tasks.asyncApi(waitsForAbort, { timeout: 50 }));
    app.post('/waits', tasks.asyncApi(waitsForAbort));
    app.post('/crashes', tasks.asyncApi.worker(faults, { export: 'exits' }));
    app.post('/own', tasks.asyncApi(() => Promise.reject(notFoundError()), { errorHandler: ownErrors }));
    const passOn: RequestHandler = (_req, _res, next) => next(plain.error);
    app.post('/plain', passOn);
    app.get('/plain', passOn);
    app.post('/plain-own', passOn, ownErrors);
    app.use(tasks.router);
    app.use(appErrors);
    ({ server, close } = await listen(app));
  });

  afterAll(async () => {
    await close();
    await tasks.close({ timeout: 1_000 });
  });

  const answerOf = answers(
    () => ({ app, server, tasks }),
    () => {
      started = deferred<string>();
      return { body: {}, running: () => started.promise };
    },
  );

  it('a HEAD of the monitor gets the head that a plain route answers a HEAD with', async () => {
    // (A HEAD has no body to read.)
    const head = async (path: string) => {
      const { status, headers } = await request(app).head(path);
      return comparable({ status, headers: headers as Record<string, string>, body: Buffer.alloc(0) });
    };
    plain.error = notFoundError();
    const expected = await head('/plain');
    expect(expected.status).toBe(404);
    expect(expected.headers['content-length']).not.toBe('0');
    const submitted = await request(app).post('/not-found');
    await tasks.wait(submitted.body.id);
    expect(await head(submitted.headers.location!)).toEqual(expected);
  });

  it('puts the bytes of a plain route on the wire: status line, header order and case, framing, body', async () => {
    const { port } = server.address() as AddressInfo;
    plain.error = notFoundError();
    const expected = wireComparable(await exchange(port, 'POST', '/plain'));
    expect(expected).toMatch(/^HTTP\/1\.1 404 Not Found\r\nX-Powered-By: Express\r\nX-Hint: try report 8\r\nX-Error-Code: not_found\r\n/);
    const submitted = await request(app).post('/not-found');
    await tasks.wait(submitted.body.id);
    expect(wireComparable(await exchange(port, 'GET', submitted.headers.location!))).toBe(expected);
    expect(wireComparable(await exchange(port, 'HEAD', submitted.headers.location!))).toBe(wireComparable(await exchange(port, 'HEAD', '/plain')));
  });

  const suite = (): FailureApp => ({ app, plain, answerOf, lastCrash: () => reported.findLast((error) => (error as Error).name === 'WorkerCrashedError') });
  describe.each(reads)('read by %s', (read) => {
    // Inline, and on a thread.
    failureCases(read, suite, { notFound: ['/not-found', '/worker/not-found'], broken: ['/broken', '/worker/broken'], timeout: 50 });
  });
});

describe('an error handler that fails', () => {
  let tasks: AsyncApi;
  let without: AsyncApi;
  let app: Express;
  let server: Server;
  let close: () => Promise<void>;
  const reported: unknown[] = [];
  const throws: ErrorRequestHandler = (_err, _req, _res, _next) => {
    throw new Error('the error handler has a bug');
  };
  const passesOn: ErrorRequestHandler = (err, _req, _res, next) => next(err);

  beforeAll(async () => {
    tasks = createAsyncApi({ errorHandler: throws, onError: (error) => void reported.push(error) });
    without = createAsyncApi({ onError: () => {} });
    const { default: express } = await import('express');
    app = express();
    app.post('/throws', tasks.asyncApi(() => Promise.reject(notFoundError())));
    app.post('/passes-on', tasks.asyncApi(() => Promise.reject(notFoundError()), { errorHandler: passesOn }));
    const other = express.Router();
    other.post('/throws', without.asyncApi(() => Promise.reject(notFoundError())));
    other.use(without.router);
    app.use('/without', other);
    app.use(tasks.router);
    ({ server, close } = await listen(app));
  });

  afterAll(async () => {
    await close();
    await Promise.all([tasks.close(), without.close()]);
  });

  // The problem document, as the same task answers with no error handler.
  const problemOf = (answer: { status: number; body: unknown }) => {
    const { instance: _instance, ...document } = answer.body as Record<string, unknown>;
    return { status: answer.status, document };
  };

  it('throwing or passing the error on answers the problem document, as with none, and onError hears of the throw', async () => {
    const unhandled = await request(app).post('/without/throws').set('Prefer', 'wait=20');
    expect(unhandled.status).toBe(404);
    expect(unhandled.headers['content-type']).toBe('application/problem+json');
    const expected = problemOf(unhandled);
    expect(expected.document).toEqual({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'There is no report 7.' });
    for (const path of ['/throws', '/passes-on']) {
      const waited = await request(app).post(path).set('Prefer', 'wait=20');
      expect(waited.headers['content-type']).toBe('application/problem+json');
      expect(problemOf(waited)).toEqual(expected);
      const submitted = await request(app).post(path);
      await tasks.wait(submitted.body.id);
      const read = await request(app).get(submitted.headers.location!);
      expect(problemOf(read)).toEqual(expected);
      expect(read.body.instance).toBe(submitted.headers.location);
      const held = await request(app).get(submitted.headers.location!).set('Prefer', 'wait=20');
      expect(problemOf(held)).toEqual(expected);
      const stream = await new Promise<string>((resolve, reject) => {
        const events: string[] = [];
        request(app)
          .get(submitted.headers.location!)
          .set('Accept', 'text/event-stream')
          .buffer(true)
          .parse((res, done) => {
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => events.push(chunk));
            res.on('end', () => done(null, events.join('')));
          })
          .then((res) => resolve(res.body as string), reject);
      });
      const done = JSON.parse(/event: done\ndata: (.*)\n/.exec(stream)![1]!) as { reply?: unknown; problem: Record<string, unknown> };
      expect(done.reply).toBeUndefined();
      expect(done.problem).toMatchObject(expected.document);
    }
    expect(reported.filter((error) => (error as Error).message === 'the error handler has a bug').length).toBeGreaterThanOrEqual(4);
    expect(server.listening).toBe(true);
  });
});

describe('what the error handler gets, and what is kept', () => {
  let tasks: AsyncApi;
  let store: MemoryStore;
  let app: Express;
  let close: () => Promise<void>;
  const seen: { err?: Error; task?: unknown; frozen?: boolean; method?: string; url?: string; taskOfRequest?: unknown } = {};

  beforeAll(async () => {
    const { default: express } = await import('express');
    store = new MemoryStore();
    tasks = createAsyncApi({
      backend: memoryBackend({ store }),
      onError: () => {},
      errorHandler: (err: Error, req, res, _next) => {
        Object.assign(seen, { err, task: req.task, frozen: Object.isFrozen(req.task), method: req.method, url: req.originalUrl });
        res.status(418).json({ id: req.task.id });
      },
    });
    app = express();
    app.use(express.json());
    app.post('/reports/:kind', tasks.asyncApi(async () => {
      throw Object.assign(new Error('The report is too long.'), {
        status: 422,
        statusCode: 422,
        code: 'too_long',
        expose: true,
        details: { items: [1, 2, 3], note: 'short' },
        huge: { note: 'y'.repeat(5_000) },
        count: 3,
        fn: () => 1,
        big: 10n,
        undef: undefined,
        when: new Date(0),
        deep: JSON.parse('['.repeat(40) + ']'.repeat(40)) as unknown,
      });
    }));
    app.post('/long', tasks.asyncApi(async () => {
      throw Object.assign(new Error('x'.repeat(10_000)), { status: 500, code: 'long', details: { a: 1 } });
    }));
    app.use(tasks.router);
    ({ close } = await listen(app));
  });

  afterAll(async () => {
    await close();
    await tasks.close();
  });

  it("gets an Error rebuilt from the record, and the failed task, frozen, at req.task of the monitor's request", async () => {
    const submitted = await request(app).post('/reports/monthly?page=2').send({});
    const { id } = submitted.body as { id: string };
    await tasks.wait(id);
    const answer = await request(app).get(submitted.headers.location!);
    expect(answer.status).toBe(418);
    expect(answer.body).toEqual({ id });
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe(submitted.headers.location);
    expect(seen.frozen).toBe(true);
    expect(seen.task).toMatchObject({ id, status: 'failed', route: 'POST /reports/:kind', method: 'POST', url: '/reports/monthly?page=2' });
    const { err } = seen;
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ message: 'The report is too long.', status: 422, statusCode: 422, code: 'too_long', expose: true, count: 3, details: { items: [1, 2, 3], note: 'short' } });
    // What is not plain JSON, or does not fit, was not kept.
    for (const left of ['huge', 'fn', 'big', 'undef', 'when', 'deep']) expect(err).not.toHaveProperty(left);
    // Its stack was never kept: the rebuilt one is its first line.
    expect(err!.stack).toBe(`Error: ${err!.message}`);
  });

  it('keeps a bounded record beside the problem: plain JSON properties that fit, never a stack', async () => {
    const submitted = await request(app).post('/reports/yearly').send({});
    await tasks.wait(submitted.body.id);
    const record = (await store.get(submitted.body.id))!.problem!.error!;
    expect(record).toEqual({
      name: 'Error',
      message: 'The report is too long.',
      status: 422,
      statusCode: 422,
      code: 'too_long',
      expose: true,
      properties: { details: { items: [1, 2, 3], note: 'short' }, count: 3 },
    });
    const long = await request(app).post('/long').send({});
    await tasks.wait(long.body.id);
    const cut = (await store.get(long.body.id))!.problem!.error!;
    const json = JSON.stringify(cut);
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(4096);
    expect(json).not.toContain('stack');
    // A message too long is cut to what fits; nothing else is added then.
    expect(cut).toMatchObject({ name: 'Error', status: 500, code: 'long' });
    expect(cut.message.length).toBeGreaterThan(3_900);
    expect(cut.properties).toBeUndefined();
  });

  it('keeps no record without an error handler: an app without one pays nothing', async () => {
    const bare = new MemoryStore();
    const plainTasks = createAsyncApi({ backend: memoryBackend({ store: bare }), onError: () => {} });
    const { default: express } = await import('express');
    const plainApp = express();
    plainApp.post('/fails', plainTasks.asyncApi(async () => {
      throw Object.assign(new Error('nope'), { status: 400, details: { a: 1 } });
    }));
    const submitted = await request(plainApp).post('/fails');
    await plainTasks.wait(submitted.body.id);
    const problem = (await bare.get(submitted.body.id))!.problem!;
    expect(problem).toEqual({ status: 400, type: 'about:blank', title: 'Bad Request', detail: 'nope', expose: true });
    await plainTasks.close();
  });

  it('refuses an errorHandler that is not an error middleware, naming the option', () => {
    expect(() => createAsyncApi({ errorHandler: 'no' as never })).toThrow(InvalidOptionError);
    expect(() => createAsyncApi({ errorHandler: ((_req: unknown, _res: unknown, _next: unknown) => {}) as never })).toThrow(
      'options.errorHandler must be an Express error middleware, a function (err, req, res, next) of four parameters, got a function of 3',
    );
    expect(() => tasks.asyncApi(() => {}, { errorHandler: 42 as never })).toThrow('routeOptions.errorHandler must be an Express error middleware, a function (err, req, res, next) of four parameters, got 42');
    expect(() => tasks.define('bad', () => 1, { errorHandler: {} as never })).toThrow('routeOptions.errorHandler must be an Express error middleware');
  });
});

describe('any web process answers: two APIs over one store, one that never served the route', () => {
  // The same app, twice: `a` serves the submits; `b` only reads, as another web process would.
  let a: AsyncApi;
  let b: AsyncApi;
  let appA: Express;
  let appB: Express;
  let store: MemoryStore;

  beforeAll(async () => {
    const { default: express } = await import('express');
    store = new MemoryStore();
    const make = () => {
      const tasks = createAsyncApi({ backend: memoryBackend({ store }), errorHandler: appErrors, onError: () => {} });
      const app = express();
      app.post('/fails', tasks.asyncApi(() => Promise.reject(notFoundError())));
      app.post('/own', tasks.asyncApi(() => Promise.reject(notFoundError()), { errorHandler: ownErrors }));
      app.post('/waits', tasks.asyncApi((req) => new Promise((resolve) => req.task.signal.addEventListener('abort', resolve)), { errorHandler: ownErrors }));
      app.post('/named', tasks.asyncApi((req) => new Promise((resolve) => req.task.signal.addEventListener('abort', resolve)), { errorHandler: ownErrors, name: 'named waits' }));
      app.use(tasks.router);
      return { tasks, app };
    };
    ({ tasks: a, app: appA } = make());
    ({ tasks: b, app: appB } = make());
  });

  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it("finds a route's own handler by its failure's record, and the global one otherwise", async () => {
    for (const [path, body] of [
      ['/own', 'own: not_found'],
      ['/fails', JSON.stringify({ error: { code: 'not_found', message: 'There is no report 7.', details: { report: 7, tried: ['a', 'b'] } } })],
    ] as const) {
      const submitted = await request(appA).post(path);
      await a.wait(submitted.body.id);
      const read = await request(appB).get(submitted.headers.location!);
      expect(read.status).toBe(404);
      expect(read.text).toBe(body);
    }
  });

  it("a canceled task of a named route is answered by its own handler; of another route, by the global one until this process has served it", async () => {
    const named = await request(appA).post('/named');
    await request(appB).delete(named.headers.location!).expect(200);
    const namedRead = await request(appB).get(named.headers.location!);
    expect(namedRead.status).toBe(409);
    expect(namedRead.text).toBe('own: ERR_TASK_CANCELED');
    const unnamed = await request(appA).post('/waits');
    await b.cancel(unnamed.body.id);
    const read = await request(appB).get(unnamed.headers.location!);
    expect(read.status).toBe(409);
    expect(read.body.error.code).toBe('ERR_TASK_CANCELED');
    // Once b has served a submit of the route, it knows the route's own handler.
    const served = await request(appB).post('/waits');
    await b.cancel(served.body.id);
    expect((await request(appB).get(unnamed.headers.location!)).text).toBe('own: ERR_TASK_CANCELED');
    expect((await request(appA).get(unnamed.headers.location!)).text).toBe('own: ERR_TASK_CANCELED');
  });

  it('a task defined in code answers its failures over HTTP through its own handler', async () => {
    const failing = b.define('fails-in-code', () => Promise.reject(notFoundError()), { errorHandler: ownErrors });
    const handle = await failing.submit(undefined);
    await expect(handle.result()).rejects.toMatchObject({ status: 404 });
    const read = await request(appB).get(handle.location);
    expect(read.status).toBe(404);
    expect(read.text).toBe('own: not_found');
  });
});

// With exposeErrors: false (the default) no 5xx body carries what the server wrote: no
// message, path or stack, for every problem type of the README's table. A 5xx problem
// has its type, title, status and instance; 4xx problems say what was wrong with the request.
import { createAsyncApi, problemTypes, type AsyncApi, type AsyncApiOptions } from 'express-async-api';
import type { Express, Request } from 'express';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { deferred, untilFinished, untilStatus } from './helpers.js';

const handlers = new URL('./fixtures/handlers/', import.meta.url);
const module = (name: string) => new URL(name, handlers);
const serverPath = new URL('..', import.meta.url).pathname;

let tasks: AsyncApi;
afterEach(async () => {
  await tasks?.close({ timeout: 100 });
});

function setup(routes: (app: Express, tasks: AsyncApi) => void, options?: AsyncApiOptions<Request>): Express {
  tasks = createAsyncApi({ onError: () => {}, threads: { max: 2, gracePeriod: 100 }, ...options });
  const app = express();
  app.use(express.json());
  routes(app, tasks);
  app.use(tasks.router);
  return app;
}

async function outcome(app: Express, path: string, send?: object) {
  const submitted = await request(app).post(path).send(send);
  expect(submitted.status).toBe(202);
  return untilFinished(request(app), submitted.headers.location);
}

// A 5xx problem as it must be: nothing but its type, title, status and instance.
function expectBare(answer: request.Response, type: string, status: number, secrets: string[] = []) {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toBe('application/problem+json');
  expect(Object.keys(answer.body).sort()).toEqual(['instance', 'status', 'title', 'type'].filter((key) => key in answer.body).sort());
  expect(answer.body).toMatchObject({ type, status });
  expect(answer.body.detail).toBeUndefined();
  for (const secret of [serverPath, ' at ', ...secrets]) expect(answer.text).not.toContain(secret);
}

describe('5xx problems with exposeErrors: false', () => {
  it('a handler that throws: about:blank, no message', async () => {
    const app = setup((app, tasks) =>
      app.post(
        '/h',
        tasks.asyncApi(() => {
          throw new Error(`connect ECONNREFUSED for ${serverPath}config.json`);
        }),
      ),
    );
    expectBare(await outcome(app, '/h'), 'about:blank', 500, ['ECONNREFUSED']);
  });

  it.each([
    ['a circular object', () => {
      const node: Record<string, unknown> = { name: 'loop' };
      node.self = node;
      return node;
    }, 'self'],
    ['a BigInt', () => ({ total: 10n }), 'BigInt'],
    ['a function', () => () => 'x', 'function'],
  ])('an inline handler returning %s: invalid-result, without its property names', async (_name, handler, secret) => {
    const app = setup((app, tasks) => app.post('/h', tasks.asyncApi(handler)));
    expectBare(await outcome(app, '/h'), problemTypes.invalidResult, 500, [secret]);
  });

  it.each([
    ['returnsACycle', 'self'],
    ['returnsABigInt', 'BigInt'],
  ])('a worker handler returning %s: invalid-result', async (name, secret) => {
    const app = setup((app, tasks) => app.post('/h', tasks.asyncApi.worker(module('faults.mjs'), { export: name })));
    expectBare(await outcome(app, '/h'), problemTypes.invalidResult, 500, [secret]);
  });

  it('a worker module that fails to load: handler-module, without the path of the server', async () => {
    const app = setup((app, tasks) => {
      app.post('/missing-import', tasks.asyncApi.worker(module('imports-missing.mjs')));
      app.post('/throws-on-load', tasks.asyncApi.worker(module('fails-to-load.mjs')));
    });
    expectBare(await outcome(app, '/missing-import'), problemTypes.handlerModule, 500, ['no-such-package', 'imports-missing']);
    expectBare(await outcome(app, '/throws-on-load'), problemTypes.handlerModule, 500, ['cannot be loaded']);
  });

  it('a worker thread that exits: worker-crashed', async () => {
    const app = setup((app, tasks) => app.post('/h', tasks.asyncApi.worker(module('faults.mjs'), { export: 'exits' })));
    expectBare(await outcome(app, '/h'), problemTypes.workerCrashed, 500, ['exit']);
  });

  it('a request that cannot be cloned to a thread: transfer', async () => {
    const app = setup((app, tasks) =>
      app.post(
        '/h',
        (req, _res, next) => {
          req.body = { callback: () => 'functions do not clone' };
          next();
        },
        tasks.asyncApi.worker(module('echo.mjs')),
      ),
    );
    expectBare(await outcome(app, '/h'), problemTypes.transfer, 500, ['clone', 'callback']);
  });

  it('a reply larger than maxReplyBytes: reply-too-large, without the limit', async () => {
    const app = setup((app, tasks) => app.post('/h', tasks.asyncApi((_req, res) => res.send(Buffer.alloc(2_000)))), { maxReplyBytes: 1_234 });
    expectBare(await outcome(app, '/h'), problemTypes.replyTooLarge, 500, ['1234']);
  });

  it('a view that is not there: 500, without the views directory', async () => {
    const app = setup((app, tasks) => app.post('/h', tasks.asyncApi((_req, res) => res.render('no-such-view'))));
    expectBare(await outcome(app, '/h'), 'about:blank', 500, ['no-such-view', 'views']);
  });

  it('render on a worker thread: unsupported-response-method, whose type says what it is', async () => {
    const app = setup((app, tasks) => app.post('/h', tasks.asyncApi.worker(module('renders.mjs'))));
    expectBare(await outcome(app, '/h'), problemTypes.unsupportedResponseMethod, 500, ['views']);
  });

  it('a timeout: task-timed-out, 504', async () => {
    const app = setup((app, tasks) => app.post('/h', tasks.asyncApi(() => new Promise(() => {}), { timeout: 20 })));
    expectBare(await outcome(app, '/h'), problemTypes.taskTimedOut, 504, ['20 ms']);
  });

  it('the task limit and shutting down: 503 with Retry-After, no message', async () => {
    const release = deferred();
    const app = setup((app, tasks) => app.post('/h', tasks.asyncApi(() => release.promise)), { maxTasks: 1 });
    await request(app).post('/h');
    const full = await request(app).post('/h');
    expectBare(full, problemTypes.taskLimit, 503, ['maximum', '1 tasks']);
    expect(full.headers['retry-after']).toBe('1');
    const closing = tasks.close({ timeout: 1_000 });
    expectBare(await request(app).post('/h'), problemTypes.shuttingDown, 503, ['no new tasks']);
    release.resolve();
    await closing;
  });

  it('a task cut off by close(): shutting-down', async () => {
    const app = setup((app, tasks) => app.post('/h', tasks.asyncApi(() => new Promise(() => {}))));
    const submitted = await request(app).post('/h');
    await untilStatus(request(app), submitted.headers.location, 'running');
    await tasks.close({ timeout: 10 });
    expectBare(await request(app).get(submitted.headers.location!), problemTypes.shuttingDown, 503, ['shut down']);
  });

  it('shows what it hid with exposeErrors: true', async () => {
    const app = setup((app, tasks) => app.post('/h', tasks.asyncApi(() => ({ total: 10n }))), { exposeErrors: true });
    expect((await outcome(app, '/h')).body.detail).toMatch(/BigInt/);
  });
});

describe('4xx problems', () => {
  it('say what was wrong with the request', async () => {
    const app = setup((app, tasks) => app.post('/h', tasks.asyncApi(() => ({ ok: true }))));
    const unknown = await request(app).get('/status/nope');
    expect(unknown.body).toMatchObject({ type: problemTypes.taskNotFound, status: 404, detail: expect.any(String) });
    const done = await outcome(app, '/h');
    expect(done.status).toBe(200);
    const submitted = await request(app).post('/h');
    await untilFinished(request(app), submitted.headers.location);
    expect((await request(app).delete(submitted.headers.location!)).body).toMatchObject({ type: problemTypes.taskFinished, detail: expect.any(String) });
    expect((await request(app).put(submitted.headers.location!)).body).toMatchObject({ type: problemTypes.methodNotAllowed, detail: expect.any(String) });
  });
});

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createAsyncApi,
  HandlerModuleError,
  InvalidArgumentError,
  InvalidOptionError,
  problemTypes,
  type AsyncApi,
  type AsyncApiOptions,
} from 'express-async-api';
import type { Express, Request } from 'express';
import request from 'supertest';
import ts from 'typescript';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { expressVersions, makeApp, untilFinished, untilStatus } from './helpers.js';

const handlers = new URL('./fixtures/handlers/', import.meta.url);
const module = (name: string) => new URL(name, handlers);

const scratch = mkdtempSync(join(tmpdir(), 'worker-threads-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Waits, yielding to the event loop, until `path` exists; bounded. */
// A file another thread writes: it exists once opened, and has its content once written.
async function untilFileExists(path: string): Promise<string> {
  let content = '';
  for (let turn = 0; turn < 5_000 && content === ''; turn++) {
    if (existsSync(path)) content = readFileSync(path, 'utf8');
    if (content === '') await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return content;
}

describe.each(expressVersions)('%s: asyncApi.worker()', (_name, express) => {
  let tasks: AsyncApi;
  afterEach(async () => {
    await tasks?.close({ timeout: 100 });
  });

  function setup(options: AsyncApiOptions<Request> | undefined, routes: (app: Express, tasks: AsyncApi) => void): Express {
    tasks = createAsyncApi({ onError: () => {}, threads: { max: 2, gracePeriod: 100 }, ...options });
    return makeApp(express, (app) => {
      app.use(express.raw({ type: 'application/octet-stream' }));
      routes(app, tasks);
      app.use(tasks.router);
    });
  }

  async function run(app: Express, path: string, body?: object | Buffer, type?: string) {
    const submit = request(app).post(path);
    if (type) submit.set('Content-Type', type);
    const submitted = await submit.send(body as object);
    expect(submitted.status).toBe(202);
    return { submitted, done: await untilFinished(request(app), submitted.headers.location) };
  }

  it('runs the default export on a thread with a snapshot of the request', async () => {
    const app = setup(undefined, (app, tasks) => app.post('/echo/:id', tasks.asyncApi.worker(module('echo.mjs'))));
    const { submitted, done } = await run(app, '/echo/7?x=1', { a: [1, 2] });
    expect(done.status).toBe(200);
    expect(done.body).toEqual({
      method: 'POST',
      url: '/echo/7?x=1',
      originalUrl: '/echo/7?x=1',
      path: '/echo/7',
      params: { id: '7' },
      query: { x: '1' },
      body: { a: [1, 2] },
      ip: 'string',
      protocol: 'http',
      taskId: submitted.body.id,
      bodyIsBuffer: false,
    });
  });

  it('gives the handler req.get(), and its Buffer body back as a Buffer', async () => {
    const app = setup(undefined, (app, tasks) => app.post('/echo', tasks.asyncApi.worker(module('echo.mjs'))));
    const submitted = await request(app).post('/echo').set('X-Custom', 'hi').set('Content-Type', 'application/octet-stream').send(Buffer.from('raw'));
    const done = await untilFinished(request(app), submitted.headers.location);
    expect(done.body).toMatchObject({ header: 'hi', bodyIsBuffer: true });
  });

  it('runs a named export, and replays its response like an inline one', async () => {
    const app = setup(undefined, (app, tasks) => {
      app.post('/made', tasks.asyncApi.worker(module('echo.mjs'), { export: 'created' }));
      app.post('/png', tasks.asyncApi.worker(module('echo.mjs'), { export: 'binary' }));
    });
    const { done } = await run(app, '/made', { name: 'thumb' });
    expect(done.status).toBe(201);
    expect(done.headers['x-made-by']).toBe('a worker thread');
    expect(done.headers['set-cookie']).toEqual(['made=yes; Path=/']);
    expect(done.body).toEqual({ made: 'thumb' });
    const png = await run(app, '/png');
    expect(png.done.headers['content-type']).toBe('image/png');
    expect([...(png.done.body as Buffer)]).toEqual([0, 1, 2, 253, 254, 255]);
  });

  it('runs CommonJS handler modules, by path as well as by URL', async () => {
    const path = join(new URL('.', handlers).pathname, 'commonjs.cjs');
    const app = setup(undefined, (app, tasks) => {
      app.post('/cjs', tasks.asyncApi.worker(path));
      app.post('/cjs-named', tasks.asyncApi.worker(module('commonjs.cjs'), { export: 'named' }));
    });
    expect((await run(app, '/cjs', { n: 3 })).done.body).toEqual({ kind: 'commonjs', n: 3 });
    expect((await run(app, '/cjs-named')).done.body).toEqual({ named: true });
  });

  it('runs a module compiled by tsc to CommonJS: exports.default, with __esModule', async () => {
    const source = readFileSync(new URL('./fixtures/typescript/worker-cjs.cts', import.meta.url), 'utf8');
    const compiled = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
    expect(compiled).toContain('exports.default = ');
    expect(compiled).toContain('__esModule');
    const path = join(scratch, `compiled-${express === expressVersions[0]![1] ? 5 : 4}.cjs`);
    writeFileSync(path, compiled);
    const app = setup(undefined, (app, tasks) => app.post('/hash', tasks.asyncApi.worker(path)));
    const { done } = await run(app, '/hash', Buffer.from([0xca, 0xfe]), 'application/octet-stream');
    expect(done.status).toBe(200);
    expect(done.body).toEqual({ digest: 'cafe' });
  });

  it('shows progress from the thread while the task runs', async () => {
    const app = setup(undefined, (app, tasks) => app.post('/waits', tasks.asyncApi.worker(module('waits.mjs'))));
    const submitted = await request(app).post('/waits').send({});
    const live = await untilStatus(request(app), submitted.headers.location, 'running');
    const withProgress = live.body.progress === undefined ? await untilProgress(app, submitted.headers.location!) : live;
    expect(withProgress.body).toMatchObject({ status: 'running', progress: 0.5, message: 'half way, in a thread' });
    await request(app).delete(submitted.headers.location!);
  });

  it('keeps up with progress reported a million times from a CPU loop', async () => {
    const app = setup(undefined, (app, tasks) => app.post('/busy', tasks.asyncApi.worker(module('waits.mjs'), { export: 'busy' })));
    const { done } = await run(app, '/busy');
    expect(done.body).toEqual({ steps: 200_000 });
  });

  it('cancel: aborts the signal inside the thread; later writes are dropped', async () => {
    const marker = join(scratch, `cancel-${express === expressVersions[0]![1] ? 5 : 4}`);
    const app = setup(undefined, (app, tasks) => app.post('/waits', tasks.asyncApi.worker(module('waits.mjs'))));
    const submitted = await request(app).post('/waits').send({ marker });
    await untilStatus(request(app), submitted.headers.location, 'running');
    expect((await request(app).delete(submitted.headers.location!)).body.status).toBe('canceled');
    expect(await untilFileExists(marker)).toBe('TaskCanceledError');
    expect((await request(app).get(submitted.headers.location!)).status).toBe(409);
  });

  it('cancel while queued: the task never runs, in the pool\'s queue or behind it', async () => {
    // One thread: the first task runs, the second waits in the pool's queue, the third and
    // fourth wait behind it in the backend's (the pool takes twice its threads).
    const app = setup({ threads: { max: 1, gracePeriod: 100 } }, (app, tasks) =>
      app.post('/marks', tasks.asyncApi.worker(module('waits.mjs'), { export: 'marks' })),
    );
    const version = express === expressVersions[0]![1] ? 5 : 4;
    const started = [1, 2, 3, 4].map((n) => join(scratch, `queued-${version}-${n}`));
    const submitted = [];
    for (const path of started) submitted.push((await request(app).post('/marks').send({ started: path })).headers.location!);
    await untilStatus(request(app), submitted[0], 'running');
    for (const location of submitted.slice(1, 3)) expect((await request(app).delete(location)).body.status).toBe('canceled');
    expect((await request(app).delete(submitted[0]!)).body.status).toBe('canceled');
    // The fourth runs once the first has ended: the two canceled between them never did.
    expect(await untilFileExists(started[3]!)).toBe('started');
    expect(existsSync(started[0]!)).toBe(true);
    expect(existsSync(started[1]!)).toBe(false);
    expect(existsSync(started[2]!)).toBe(false);
    for (const location of submitted.slice(1, 3)) expect((await request(app).get(location)).status).toBe(409);
  });

  it('close(): tasks still queued behind busy threads fail as shutting down, without running', async () => {
    const app = setup({ threads: { max: 1, gracePeriod: 100 } }, (app, tasks) =>
      app.post('/marks', tasks.asyncApi.worker(module('waits.mjs'), { export: 'marks' })),
    );
    const version = express === expressVersions[0]![1] ? 5 : 4;
    const started = [1, 2, 3, 4].map((n) => join(scratch, `closing-${version}-${n}`));
    const submitted = [];
    for (const path of started) submitted.push((await request(app).post('/marks').send({ started: path })).headers.location!);
    await untilStatus(request(app), submitted[0], 'running');
    await tasks.close({ timeout: 50 });
    for (const [n, location] of submitted.entries()) {
      const monitor = await request(app).get(location);
      expect(monitor.status).toBe(503);
      expect(monitor.body).toEqual({ type: problemTypes.shuttingDown, title: 'Shutting down', status: 503, instance: location });
      expect(existsSync(started[n]!)).toBe(n === 0);
    }
  });

  it('timeout: aborts the signal inside the thread and answers 504', async () => {
    const marker = join(scratch, `timeout-${express === expressVersions[0]![1] ? 5 : 4}`);
    const app = setup(undefined, (app, tasks) => app.post('/waits', tasks.asyncApi.worker(module('waits.mjs'), { timeout: 50 })));
    const { done } = await run(app, '/waits', { marker });
    expect(done.status).toBe(504);
    expect(done.body.type).toBe(problemTypes.taskTimedOut);
    expect(await untilFileExists(marker)).toBe('TaskTimeoutError');
  });

  it('ends a CPU loop that never looks at its signal, on cancel and on timeout; the pool recovers', async () => {
    const app = setup(undefined, (app, tasks) => {
      app.post('/spin', tasks.asyncApi.worker(module('spins.mjs')));
      app.post('/spin-briefly', tasks.asyncApi.worker(module('spins.mjs'), { timeout: 50 }));
      app.post('/echo', tasks.asyncApi.worker(module('echo.mjs')));
    });
    const spinning = await request(app).post('/spin');
    await untilStatus(request(app), spinning.headers.location, 'running');
    expect((await request(app).delete(spinning.headers.location!)).status).toBe(200);
    expect((await run(app, '/spin-briefly')).done.status).toBe(504);
    // Both threads were terminated and replaced: more tasks than threads still succeed.
    for (let i = 0; i < 3; i++) expect((await run(app, '/echo')).done.status).toBe(200);
  });

  it.each([
    ['throws an HTTP error', 'throws', 422, 'about:blank'],
    ['calls process.exit()', 'exits', 500, problemTypes.workerCrashed],
    ['throws from a callback', 'throwsLater', 500, problemTypes.workerCrashed],
    ['exceeds its resource limits', 'eatsMemory', 500, problemTypes.workerCrashed],
    ['returns a function', 'returnsAFunction', 500, problemTypes.invalidResult],
    ['returns a cycle', 'returnsACycle', 500, problemTypes.invalidResult],
  ])('a handler that %s fails only its own task; the next one succeeds', async (_what, exportName, status, type) => {
    const app = setup({ threads: { max: 1, gracePeriod: 100, resourceLimits: { maxOldGenerationSizeMb: 32 } } }, (app, tasks) => {
      app.post('/fault', tasks.asyncApi.worker(module('faults.mjs'), { export: exportName }));
      app.post('/echo', tasks.asyncApi.worker(module('echo.mjs')));
    });
    const { done } = await run(app, '/fault');
    expect(done.status).toBe(status);
    expect(done.headers['content-type']).toBe('application/problem+json');
    expect(done.body.type).toBe(type);
    expect(done.text).not.toMatch(/at .*\.mjs:\d+/); // no stack
    expect((await run(app, '/echo')).done.status).toBe(200);
  });

  it('a module that fails to load, or lacks the export behind export *, fails its task naming the module', async () => {
    // The names show with exposeErrors (the server's log has them in any case).
    const app = setup({ exposeErrors: true }, (app, tasks) => {
      app.post('/broken', tasks.asyncApi.worker(module('fails-to-load.mjs')));
      app.post('/missing', tasks.asyncApi.worker(module('reexports.mjs'), { export: 'missing' }));
    });
    const broken = await run(app, '/broken');
    expect(broken.done.status).toBe(500);
    expect(broken.done.body).toMatchObject({ type: problemTypes.handlerModule, title: 'Handler module error' });
    expect(broken.done.body.detail).toMatch(/^The handler module test\/fixtures\/handlers\/fails-to-load\.mjs failed to load: this module cannot be loaded/);
    const missing = await run(app, '/missing');
    expect(missing.done.body.detail).toBe(
      'The handler module test/fixtures/handlers/reexports.mjs has no function export "missing"; it exports binary, created.',
    );
  });

  it('fails res.render() in a thread, which has no app and no views, naming the method', async () => {
    const app = setup({ exposeErrors: true }, (app, tasks) => app.post('/render', tasks.asyncApi.worker(module('renders.mjs'))));
    const { done } = await run(app, '/render');
    expect(done.status).toBe(500);
    expect(done.body.detail).toMatch(/^res\.render\(\) is not supported in an async task: views render through the app/);
  });

  it('fails a task whose request cannot be cloned to a thread, and nothing else', async () => {
    const app = setup({ exposeErrors: true }, (app, tasks) => {
      app.post(
        '/odd',
        (req, _res, next) => {
          req.body = { callback: () => 'functions do not clone' };
          next();
        },
        tasks.asyncApi.worker(module('echo.mjs')),
      );
      app.post('/echo', tasks.asyncApi.worker(module('echo.mjs')));
    });
    const { done } = await run(app, '/odd');
    expect(done.status).toBe(500);
    expect(done.body).toMatchObject({ type: problemTypes.transfer, detail: expect.stringMatching(/^The request cannot be passed to a worker thread/) });
    expect((await run(app, '/echo')).done.status).toBe(200);
  });
});

async function untilProgress(app: Express, location: string) {
  for (let polls = 0; polls < 5_000; polls++) {
    const response = await request(app).get(location);
    if (response.body.progress !== undefined) return response;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error('no progress reported');
}

describe('asyncApi.worker() refuses at wrap time', () => {
  const tasks = createAsyncApi();
  afterAll(() => tasks.close());

  it('a module that is not there', () => {
    expect(() => tasks.asyncApi.worker(module('nope.mjs'))).toThrow(HandlerModuleError);
    expect(() => tasks.asyncApi.worker(module('nope.mjs'))).toThrow(/^There is no handler module at test\/fixtures\/handlers\/nope\.mjs \(file:\/\//);
  });

  it('an export the module does not have', () => {
    expect(() => tasks.asyncApi.worker(module('echo.mjs'), { export: 'resize' })).toThrow(
      'The handler module test/fixtures/handlers/echo.mjs has no export "resize"; it exports default, created, binary.',
    );
    expect(() => tasks.asyncApi.worker(module('commonjs.cjs'), { export: 'other' })).toThrow(
      'The handler module test/fixtures/handlers/commonjs.cjs has no export "other"; it exports default, named.',
    );
  });

  it('but not an export it cannot see (export *), which the task checks', () => {
    expect(() => tasks.asyncApi.worker(module('reexports.mjs'), { export: 'anything' })).not.toThrow();
  });

  it('a module that is not a file: URL or a path, and bad route options', () => {
    expect(() => tasks.asyncApi.worker(new URL('https://example.com/x.js'))).toThrow(InvalidArgumentError);
    expect(() => tasks.asyncApi.worker(42 as never)).toThrow('asyncApi.worker() takes the URL or path of a handler module, got 42');
    expect(() => tasks.asyncApi.worker(module('echo.mjs'), { export: '' })).toThrow('routeOptions.export must be the name of an export, got ""');
    expect(() => tasks.asyncApi.worker(module('echo.mjs'), { timeout: 0 })).toThrow(InvalidOptionError);
  });
});

describe('threads options', () => {
  it.each([
    [{ max: 0 }, 'options.threads.max must be a positive integer, got 0'],
    [{ min: 4, max: 2 }, 'options.threads.min (4) must not be more than options.threads.max (2)'],
    [{ idleTimeout: -1 }, 'options.threads.idleTimeout must be a whole number of milliseconds from 0 to 2147483647, got -1'],
    [{ gracePeriod: 'soon' }, 'options.threads.gracePeriod must be a whole number of milliseconds from 0 to 2147483647, got "soon"'],
    [{ resourceLimits: { maxOldGenerationSizeMb: -5 } }, 'options.threads.resourceLimits.maxOldGenerationSizeMb must be a positive number of megabytes, got -5'],
    [{ resourceLimits: { heap: 5 } }, 'options.threads.resourceLimits.heap is not an option; the options are maxOldGenerationSizeMb, maxYoungGenerationSizeMb, codeRangeSizeMb, stackSizeMb'],
    [{ maxThreads: 2 }, 'options.threads.maxThreads is not an option; the options are min, max, idleTimeout, resourceLimits, gracePeriod'],
  ])('rejects %j', (threads, message) => {
    expect(() => createAsyncApi({ threads } as never)).toThrow(message);
  });
});

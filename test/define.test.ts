// Tasks defined in code: submitted with no request, answered over HTTP as a route's are.
import {
  createAsyncApi,
  InvalidArgumentError,
  InvalidOptionError,
  MemoryStore,
  memoryBackend,
  TaskCanceledError,
  TaskFailedError,
  TaskNotFoundError,
  type AsyncApi,
} from 'express-async-api';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { deferred } from './helpers.js';

const calls = new URL('./fixtures/handlers/calls.mjs', import.meta.url);

let tasks: AsyncApi;
let store: MemoryStore;
afterEach(async () => {
  await tasks?.close({ timeout: 100 });
});

function setup() {
  store = new MemoryStore();
  tasks = createAsyncApi({ backend: memoryBackend({ store }), owner: (req) => req.get('x-user'), threads: { max: 1, gracePeriod: 100 }, onError: () => {} });
  const app = express();
  app.use(tasks.router);
  return app;
}

describe('tasks.define() with a function', () => {
  it('runs it with its input and task; result() resolves with its value; its monitor answers 200 JSON to its owner', async () => {
    const app = setup();
    const gate = deferred();
    const report = tasks.define('build-report', async (input: { month: string }, task) => {
      task.progress(0.5, 'half way');
      await gate.promise;
      return { month: input.month, rows: 3 };
    });
    const handle = await report.submit({ month: '2026-10' }, { owner: 'ann' });
    expect(handle.location).toBe(`/status/${handle.id}`);
    for (let turns = 0; turns < 100 && (await tasks.get(handle.id, { owner: 'ann' }))?.progress === undefined; turns++) await new Promise((resolve) => setImmediate(resolve));
    expect(await tasks.get(handle.id, { owner: 'ann' })).toMatchObject({ id: handle.id, status: 'running', progress: 0.5, message: 'half way' });
    expect(await tasks.get(handle.id)).toBeUndefined();
    expect((await request(app).get(handle.location).set('x-user', 'ann')).status).toBe(202);
    gate.resolve();
    expect(await handle.result()).toEqual({ month: '2026-10', rows: 3 });
    expect((await tasks.wait(handle.id, { owner: 'ann' })).status).toBe('succeeded');
    const monitor = await request(app).get(handle.location).set('x-user', 'ann');
    expect(monitor.status).toBe(200);
    expect(monitor.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(monitor.body).toEqual({ month: '2026-10', rows: 3 });
    expect((await request(app).get(handle.location)).status).toBe(404);
  });

  it('a throw rejects result() with TaskFailedError, and the monitor answers its problem', async () => {
    const app = setup();
    const failing = tasks.define('fails', () => {
      throw Object.assign(new Error('no such month'), { status: 422, expose: true });
    });
    const handle = await failing.submit(null);
    const error = await handle.result().catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect(error).toMatchObject({ status: 422, message: 'no such month', problem: { status: 422, title: 'Unprocessable Entity', detail: 'no such month' } });
    const monitor = await request(app).get(handle.location);
    expect(monitor.status).toBe(422);
    expect(monitor.body).toMatchObject({ status: 422, detail: 'no such month' });
  });

  it('undefined answers 204; a timeout and a cancel end result() as they end the task', async () => {
    setup();
    expect(await (await tasks.define('nothing', () => undefined).submit(1)).result()).toBeUndefined();
    const slow = tasks.define('slow', (_input, task) => new Promise((_resolve, reject) => task.signal.addEventListener('abort', () => reject(task.signal.reason))), { timeout: 20 });
    const timedOut = await (await slow.submit(1)).result().catch((reason: unknown) => reason);
    expect(timedOut).toMatchObject({ name: 'TaskFailedError', status: 504 });
    const waiting = tasks.define('waiting', (_input, task) => new Promise((resolve) => task.signal.addEventListener('abort', resolve)));
    const handle = await waiting.submit(1);
    expect((await tasks.cancel(handle.id)).status).toBe('canceled');
    await expect(handle.result()).rejects.toBeInstanceOf(TaskCanceledError);
  });

  it('result() stops waiting when its signal aborts; the task goes on', async () => {
    setup();
    const gate = deferred();
    const handle = await tasks.define('gated', () => gate.promise.then(() => 'done')).submit(1);
    const stop = new AbortController();
    const waiting = handle.result({ signal: stop.signal });
    stop.abort(new Error('enough'));
    await expect(waiting).rejects.toThrow('enough');
    gate.resolve();
    expect(await handle.result()).toBe('done');
  });

  it('refuses an input that cannot be cloned, registering nothing; copies the one it takes', async () => {
    setup();
    const seen: unknown[] = [];
    const echo = tasks.define('echo', (input: { list: number[] }) => {
      seen.push(input);
      return input;
    });
    await expect(echo.submit({ list: [1], run: () => 1 } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(store.size).toBe(0);
    const input = { list: [1] };
    const handle = await echo.submit(input);
    input.list.push(2);
    expect(await handle.result()).toEqual({ list: [1] });
  });

  it('names what is wrong with a definition', () => {
    setup();
    tasks.define('one', () => 1);
    expect(() => tasks.define('one', () => 2)).toThrow('define(): a task named "one" is defined already');
    expect(() => tasks.define('', () => 2)).toThrow(InvalidArgumentError);
    expect(() => tasks.define('n', 42 as never)).toThrow('define() takes a function or a module');
    expect(() => tasks.define('m', () => 1, { export: 'x' })).toThrow(InvalidOptionError);
    expect(() => tasks.define('t', () => 1, { timeout: -1 })).toThrow('routeOptions.timeout must be a positive number');
    expect(() => tasks.define('missing', new URL('./fixtures/handlers/nope.mjs', import.meta.url))).toThrow('There is no handler module at');
  });

  it('get, wait and cancel answer for unknown ids', async () => {
    setup();
    expect(await tasks.get('nope')).toBeUndefined();
    await expect(tasks.wait('nope', { timeout: 10 })).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(tasks.cancel('nope')).rejects.toBeInstanceOf(TaskNotFoundError);
  });
});

describe('tasks.define() with a module, on the worker-thread pool', () => {
  it('calls its export with the input and the task on a thread', async () => {
    const app = setup();
    const sum = tasks.define<{ numbers: number[] }, { sum: number; task: string }>('sum', calls);
    const handle = await sum.submit({ numbers: [1, 2, 3] });
    expect(await handle.result()).toEqual({ sum: 6, task: handle.id });
    expect((await request(app).get(handle.location)).body).toEqual({ sum: 6, task: handle.id });
    const failing = await tasks.define('fails', calls, { export: 'fails' }).submit({ what: 'fly' });
    await expect(failing.result()).rejects.toMatchObject({ status: 422, message: 'cannot fly' });
    const waiting = await tasks.define('waits', calls, { export: 'waits' }).submit({});
    await tasks.wait(waiting.id, { timeout: 50 });
    await tasks.cancel(waiting.id);
    await expect(waiting.result()).rejects.toBeInstanceOf(TaskCanceledError);
  });
});

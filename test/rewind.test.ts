// Rewind in code, and the retention of tasks that did not succeed (failedTtl).
import { createAsyncApi, InvalidQueryError, MemoryStore, NotRerunnableError, TaskNotFoundError, type AsyncApi } from 'express-async-api';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { untilFinished } from './helpers.js';

const failsOnce = new URL('./fixtures/handlers/durable.mjs', import.meta.url);

describe('tasks.rewind() and the bulk actions in code', () => {
  let tasks: AsyncApi;
  afterEach(async () => {
    vi.useRealTimers();
    await tasks?.close({ timeout: 100 });
  });

  it('refuses, with a 409 that says why, an inline task, a define(name, fn) task, a succeeded one and a live one', async () => {
    tasks = createAsyncApi({ onError: () => {} });
    const app = express();
    app.post('/inline', tasks.asyncApi(() => {
      throw Object.assign(new Error('down'), { status: 503 });
    }));
    app.post('/ok', tasks.asyncApi(() => ({ ok: true })));
    app.use(tasks.router);
    const inline = await request(app).post('/inline').expect(202);
    await untilFinished(request(app), inline.headers.location);
    await expect(tasks.rewind(inline.body.id)).rejects.toThrow(NotRerunnableError);
    await expect(tasks.rewind(inline.body.id)).rejects.toThrow(/its job is not kept\. An inline handler's job/);
    const ok = await request(app).post('/ok').expect(202);
    await untilFinished(request(app), ok.headers.location);
    await expect(tasks.rewind(ok.body.id)).rejects.toThrow('This task succeeded: only a failed, timed-out or canceled task can be rewound.');
    const fn = tasks.define('fn', () => {
      throw new Error('no');
    });
    const handle = await fn.submit(1);
    await expect(handle.result()).rejects.toThrow();
    await expect(tasks.rewind(handle.id)).rejects.toThrow(NotRerunnableError);
    await expect(tasks.rewind('00000000-0000-4000-8000-000000000000')).rejects.toThrow(TaskNotFoundError);
    await expect(tasks.cancelMany({})).rejects.toThrow(InvalidQueryError);
    expect(await tasks.deleteMany({ all: true })).toEqual({ matched: 3, done: 3, skipped: 0 });
  });

  it('rewinds a module task from code under its id: its result comes, its step kept', async () => {
    tasks = createAsyncApi({ onError: () => {}, threads: { max: 1 } });
    const defined = tasks.define('fails-once', failsOnce, { export: 'failsOnceTask' });
    const { mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'rewind-'));
    const handle = await defined.submit({ marker: join(dir, 'marker') });
    await expect(handle.result()).rejects.toThrow('the mailer is down');
    expect(await tasks.rewind(handle.id)).toMatchObject({ id: handle.id, status: 'queued', rewinds: 1 });
    expect(await handle.result()).toEqual({ charged: 12 });
    expect((await tasks.get(handle.id))?.rewinds).toBe(1);
  });
});

describe('failedTtl', () => {
  it('keeps failed, timed-out and canceled tasks longer than succeeded ones, and a rewound one until it ends again', async () => {
    vi.useFakeTimers({ now: 0 });
    const store = new MemoryStore({ ttl: 1_000, failedTtl: 10_000 });
    const reply = { status: 200, headers: [], body: 'ok' };
    const problem = { status: 500, type: 'about:blank', title: 'Internal Server Error', detail: undefined, expose: false };
    for (const [id, outcome] of [['ok', { status: 'succeeded', reply }], ['failed', { status: 'failed', problem }], ['canceled', { status: 'canceled' }], ['rewound', { status: 'failed', problem }]] as const) {
      await store.create({ id, owner: undefined, createdAt: 0 });
      await store.finish(id, outcome as never, 0, 0);
    }
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await store.get('ok')).toBeUndefined();
    expect(await store.get('failed')).toBeDefined();
    await store.rewind('rewound');
    await vi.advanceTimersByTimeAsync(9_000);
    expect(await store.get('failed')).toBeUndefined();
    expect(await store.get('canceled')).toBeUndefined();
    // Live again: not taken by its old place in the expiry queue; its own end counts anew.
    expect((await store.get('rewound'))?.status).toBe('queued');
    await store.finish('rewound', { status: 'failed', problem }, Date.now(), Date.now());
    await vi.advanceTimersByTimeAsync(9_000);
    expect(await store.get('rewound')).toBeDefined();
    await vi.advanceTimersByTimeAsync(1_600);
    expect(await store.get('rewound')).toBeUndefined();
    expect(store.size).toBe(0);
    await store.close();
  });

  it('names a bad failedTtl', () => {
    expect(() => createAsyncApi({ failedTtl: -1 })).toThrow('options.failedTtl must be a positive number of milliseconds or Infinity, got -1');
    expect(() => new MemoryStore({ failedTtl: 0 })).toThrow('MemoryStore options.failedTtl must be a positive number of milliseconds or Infinity, got 0');
  });
});

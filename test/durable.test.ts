// Durable tasks in one process: steps that are not run twice, and waits for outside events,
// inline and on worker threads.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAsyncApi, problemTypes, type AsyncApi, type AsyncApiOptions } from 'express-async-api';
import type { Express, Request } from 'express';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { deferred, expressVersions, makeApp, untilFinished, untilStatus } from './helpers.js';

const handlers = new URL('./fixtures/handlers/', import.meta.url);
const durableModule = new URL('durable.mjs', handlers);
const scratch = mkdtempSync(join(tmpdir(), 'durable-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let logs = 0;
const newLog = () => join(scratch, `log-${++logs}`);
const lines = (log: string) => {
  try {
    return readFileSync(log, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

// Polls a monitor until its status document says it waits for an event (a thread may take a
// while to start on a busy machine: bounded by time, not by polls).
async function untilWaiting(app: Express, location: string) {
  return vi.waitFor(
    async () => {
      const response = await request(app).get(location);
      if (response.body?.waitingFor === undefined) throw new Error(`${location} does not wait for an event`);
      return response;
    },
    { timeout: 15_000, interval: 5 },
  );
}

// Polls a monitor until the task ends: its answer.
async function untilEnded(app: Express, location: string) {
  return vi.waitFor(
    async () => {
      const response = await request(app).get(location);
      if (response.status === 202) throw new Error(`${location} still runs`);
      return response;
    },
    { timeout: 15_000, interval: 5 },
  );
}

describe.each(expressVersions)('durable tasks, %s', (_name, express) => {
  let tasks: AsyncApi;
  afterEach(async () => {
    vi.useRealTimers();
    await tasks?.close({ timeout: 100 });
  });

  function setup(options: AsyncApiOptions<Request> | undefined, routes: (app: Express, tasks: AsyncApi) => void): Express {
    tasks = createAsyncApi({ onError: () => {}, threads: { max: 1, gracePeriod: 100 }, ...options });
    return makeApp(express, (app) => {
      routes(app, tasks);
      app.use(tasks.router);
    });
  }

  // The approval flow inline: its steps count in `counts`.
  function inlineRefunds(options?: AsyncApiOptions<Request>) {
    const counts = { quote: 0, refund: 0, runs: 0 };
    const app = setup(options, (app, tasks) =>
      app.post('/refunds', tasks.asyncApi(async (req, res) => {
        counts.runs++;
        const quote = await req.task.step('quote', () => {
          counts.quote++;
          return { amount: req.body.amount ?? 10 };
        });
        const decision = (await req.task.waitForEvent('approval', req.body.timeout === undefined ? undefined : { timeout: req.body.timeout })) as { approved?: boolean } | undefined;
        if (!decision?.approved) return res.status(409).json({ refused: true });
        res.status(201).json(await req.task.step('refund', () => {
          counts.refund++;
          return { refunded: quote.amount };
        }));
      })),
    );
    return { app, counts };
  }

  it('an approval inline: the task waits, says for what and where to send it, and goes on with the event', async () => {
    const { app, counts } = inlineRefunds();
    const submitted = await request(app).post('/refunds').send({ amount: 25 }).expect(202);
    const location = submitted.headers.location as string;
    const waiting = await untilWaiting(app, location);
    expect(waiting.status).toBe(202);
    expect(waiting.body).toMatchObject({ status: 'running', waitingFor: { event: 'approval', until: null, href: `${location}/events/approval` } });
    const sent = await request(app).post(waiting.body.waitingFor.href).send({ approved: true }).expect(202);
    expect(sent.body).toMatchObject({ id: submitted.body.id });
    const done = await untilFinished(request(app), location);
    expect(done.status).toBe(201);
    expect(done.body).toEqual({ refunded: 25 });
    expect(counts).toEqual({ quote: 1, refund: 1, runs: 1 });
  });

  it('keeps an event sent before the wait for the first wait of its name', async () => {
    const gate = deferred();
    const app = setup(undefined, (app, tasks) =>
      app.post('/late-wait', tasks.asyncApi(async (req) => {
        await gate.promise;
        return { first: await req.task.waitForEvent('payment'), second: await req.task.waitForEvent('payment', { timeout: 0 }) };
      })),
    );
    const submitted = await request(app).post('/late-wait').expect(202);
    await untilStatus(request(app), submitted.headers.location, 'running');
    await request(app).post(`${submitted.headers.location}/events/payment`).send({ paid: 12 }).expect(202);
    gate.resolve();
    const done = await untilFinished(request(app), submitted.headers.location);
    expect(done.body).toEqual({ first: { paid: 12 } });
  });

  it('resolves undefined at the wait\'s timeout, even one longer than Node\'s longest timer', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const { app, counts } = inlineRefunds();
    const month = 30 * 86_400_000;
    const before = Date.now();
    const submitted = await request(app).post('/refunds').send({ timeout: month }).expect(202);
    const location = submitted.headers.location as string;
    const waiting = await untilWaiting(app, location);
    const until = Date.parse(waiting.body.waitingFor.until);
    expect(until).toBeGreaterThanOrEqual(before + month);
    expect(until).toBeLessThanOrEqual(Date.now() + month);
    await vi.advanceTimersByTimeAsync(until - Date.now() - 1);
    expect((await request(app).get(location)).body.waitingFor).toBeDefined();
    await vi.advanceTimersByTimeAsync(1);
    const done = await untilFinished(request(app), location);
    expect(done.status).toBe(409);
    expect(counts).toEqual({ quote: 1, refund: 0, runs: 1 });
    // Past the task's ttl the janitor is done too: no timer is left of the wait.
    await vi.advanceTimersByTimeAsync(301_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('delivers an event once per Idempotency-Key, answers 409 once the task ended, and checks what it is sent', async () => {
    const { app } = inlineRefunds({ maxEventBytes: 64 });
    const submitted = await request(app).post('/refunds').send({}).expect(202);
    const location = submitted.headers.location as string;
    const href = `${location}/events/approval`;
    await untilWaiting(app, location);
    // What is not an event.
    await request(app).post(href).set('Content-Type', 'text/plain').send('yes').expect(415);
    await request(app).post(`${location}/events/bad%20name`).send({}).expect(400);
    await request(app).get(href).expect(405);
    await request(app).post(`${location.replace(/[0-9a-f]{4}$/, '0000')}/events/approval`).send({}).expect(404);
    const other = await request(app).post(href).send({ approved: false, note: 'x'.repeat(100) });
    // (express.json() parsed it: the app's limit applies, not maxEventBytes.)
    expect(other.status).toBe(202);
    const done = await untilFinished(request(app), location);
    expect(done.status).toBe(409);
    const late = await request(app).post(href).set('Idempotency-Key', '"k1"').send({ approved: true });
    expect(late.status).toBe(409);
    expect(late.body.type).toBe(problemTypes.taskFinished);
  });

  it('keeps at most maxEvents, and delivers a repeated Idempotency-Key once', async () => {
    const gate = deferred();
    const app = setup({ maxEvents: 2 }, (app, tasks) =>
      app.post('/collect', tasks.asyncApi(async (req) => {
        await gate.promise;
        const seen = [];
        for (let i = 0; i < 3; i++) seen.push(await req.task.waitForEvent('vote', { timeout: 0 }));
        return seen;
      })),
    );
    const submitted = await request(app).post('/collect').expect(202);
    const href = `${submitted.headers.location}/events/vote`;
    await request(app).post(href).set('Idempotency-Key', 'same').send({ vote: 1 }).expect(202);
    await request(app).post(href).set('Idempotency-Key', 'same').send({ vote: 1 }).expect(202);
    await request(app).post(href).send({ vote: 2 }).expect(202);
    const over = await request(app).post(href).send({ vote: 3 }).expect(409);
    expect(over.body.type).toBe(problemTypes.eventLimit);
    gate.resolve();
    const done = await untilFinished(request(app), submitted.headers.location);
    expect(done.body).toEqual([{ vote: 1 }, { vote: 2 }, null]);
  });

  it('a cancel while waiting ends the task and leaves no timer behind', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const { app } = inlineRefunds();
    const submitted = await request(app).post('/refunds').send({ timeout: 60_000 }).expect(202);
    const location = submitted.headers.location as string;
    await untilWaiting(app, location);
    expect((await request(app).delete(location)).body).toMatchObject({ status: 'canceled' });
    expect((await request(app).get(location)).status).toBe(409);
    await request(app).post(`${location}/events/approval`).send({ approved: true }).expect(409);
    await vi.advanceTimersByTimeAsync(301_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a waiting inline handler does not count against concurrency, and its route timeout does not count the wait', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const counts = { quote: 0 };
    const app = setup({ concurrency: 1 }, (app, tasks) =>
      app.post('/refunds', tasks.asyncApi(async (req, res) => {
        await req.task.step('quote', () => ++counts.quote);
        const decision = (await req.task.waitForEvent('approval')) as { approved?: boolean } | undefined;
        res.status(201).json({ approved: decision?.approved === true });
      }, { timeout: 1_000 })),
    );
    const first = (await request(app).post('/refunds').expect(202)).headers.location as string;
    await untilWaiting(app, first);
    // A second task runs to its wait meanwhile: the first gave its slot back.
    const second = (await request(app).post('/refunds').expect(202)).headers.location as string;
    await untilWaiting(app, second);
    expect(counts.quote).toBe(2);
    // Ten times the route's timeout spent waiting: not counted.
    await vi.advanceTimersByTimeAsync(10_000);
    for (const location of [first, second]) await request(app).post(`${location}/events/approval`).send({ approved: true }).expect(202);
    for (const location of [first, second]) {
      const done = await untilFinished(request(app), location);
      expect(done.status).toBe(201);
      expect(done.body).toEqual({ approved: true });
    }
  });

  it('an approval on a worker thread parks: the thread is free while it waits, and the run goes on from the top, its steps kept', async () => {
    const log = newLog();
    const app = setup(undefined, (app, tasks) => {
      app.post('/refunds', tasks.asyncApi.worker(durableModule));
      app.post('/echo/:id', tasks.asyncApi.worker(new URL('echo.mjs', handlers)));
    });
    const submitted = await request(app).post('/refunds').send({ log, amount: 7 }).expect(202);
    const location = submitted.headers.location as string;
    const waiting = await untilWaiting(app, location);
    expect(waiting.body.waitingFor).toMatchObject({ event: 'approval', until: null });
    // One thread in the pool, and it is free: another task runs to its end meanwhile.
    const other = await request(app).post('/echo/7').send({ n: 1 }).expect(202);
    expect((await untilEnded(app, other.headers.location as string)).status).toBe(200);
    expect(lines(log)).toEqual(['run', 'quote']);
    await request(app).post(waiting.body.waitingFor.href).send({ approved: true }).expect(202);
    const done = await untilEnded(app, location);
    expect(done.status).toBe(201);
    expect(done.body).toEqual({ refunded: 7 });
    // The second run replayed the quote and the wait: its function ran once.
    expect(lines(log)).toEqual(['run', 'quote', 'run', 'refund']);
  });

  it('a parked run times out at its deadline, then runs again to its end', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const log = newLog();
    const app = setup(undefined, (app, tasks) => app.post('/refunds', tasks.asyncApi.worker(durableModule)));
    const submitted = await request(app).post('/refunds').send({ log, timeout: 3 * 86_400_000 }).expect(202);
    const location = submitted.headers.location as string;
    await untilWaiting(app, location);
    await vi.advanceTimersByTimeAsync(3 * 86_400_000);
    const done = await untilEnded(app, location);
    expect(done.status).toBe(409);
    expect(done.body).toEqual({ refused: true, decision: null });
    expect(lines(log)).toEqual(['run', 'quote', 'run']);
  });

  it('a cancel of a parked task ends it; its job is not run again', async () => {
    const log = newLog();
    const app = setup(undefined, (app, tasks) => app.post('/refunds', tasks.asyncApi.worker(durableModule)));
    const submitted = await request(app).post('/refunds').send({ log }).expect(202);
    const location = submitted.headers.location as string;
    await untilWaiting(app, location);
    await request(app).delete(location).expect(200);
    await request(app).post(`${location}/events/approval`).send({ approved: true }).expect(409);
    expect((await request(app).get(location)).body.type).toBe(problemTypes.taskCanceled);
    expect(lines(log)).toEqual(['run', 'quote']);
  });

  it('a step name given twice in one run fails the task with a TypeError', async () => {
    const app = setup({ exposeErrors: true }, (app, tasks) => {
      app.post('/twice-thread', tasks.asyncApi.worker(durableModule, { export: 'twice' }));
      app.post('/twice-inline', tasks.asyncApi(async (req) => {
        await req.task.step('same', () => 1);
        await req.task.step('same', () => 2);
      }));
    });
    for (const path of ['/twice-inline', '/twice-thread']) {
      const submitted = await request(app).post(path).expect(202);
      const done = await untilEnded(app, submitted.headers.location as string);
      expect(done.status).toBe(500);
      expect(done.body.detail).toMatch(/step\("same"\) ran already in this run/);
    }
  });

  it('tasks from code wait too, inline and as a module, and take events sent in code', async () => {
    const log = newLog();
    setup(undefined, () => {});
    const inline = tasks.define('inline-approval', async (input: { n: number }, task) => ({ n: input.n, decision: await task.waitForEvent('approval') }));
    const module = tasks.define<{ log: string }, { approved: boolean }>('module-approval', new URL(`${durableModule.href}`), { export: 'approvalTask' });
    const a = await inline.submit({ n: 1 });
    const b = await module.submit({ log });
    for (const id of [a.id, b.id]) {
      await vi.waitFor(async () => expect((await tasks.get(id))?.waitingFor).toMatchObject({ event: 'approval', href: `/status/${id}/events/approval` }), { timeout: 10_000, interval: 5 });
    }
    await expect(tasks.sendEvent(a.id, 'approval', undefined)).rejects.toThrow('sendEvent() takes a JSON value');
    await expect(tasks.sendEvent(a.id, 'not a name', 1)).rejects.toThrow(/an event's name is 1 to 64 characters/);
    expect(await tasks.sendEvent(a.id, 'approval', { approved: true })).toMatchObject({ id: a.id, status: 'running' });
    await tasks.sendEvent(b.id, 'approval', { approved: true }, { idempotencyKey: 'once' });
    await tasks.sendEvent(b.id, 'approval', { approved: false }, { idempotencyKey: 'once' });
    expect(await a.result()).toEqual({ n: 1, decision: { approved: true } });
    expect(await b.result()).toEqual({ approved: true });
    expect(lines(log)).toEqual(['run', 'run']);
  });

  it('a retry replays the steps its failed attempt finished', async () => {
    const calls = { charge: 0, attempts: 0 };
    const app = setup(undefined, (app, tasks) =>
      app.post('/charge', tasks.asyncApi(async (req) => {
        calls.attempts++;
        const charged = await req.task.step('charge', () => ++calls.charge);
        if (calls.attempts === 1) throw new Error('the mailer is down');
        return { charged };
      }, { retries: { attempts: 2, backoff: { type: 'fixed', delay: 0 } } })),
    );
    const submitted = await request(app).post('/charge').expect(202);
    const done = await untilEnded(app, submitted.headers.location as string);
    expect(done.body).toEqual({ charged: 1 });
    expect(calls).toEqual({ charge: 1, attempts: 2 });
  });
});

// The Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header) as the submit reads
// it, and what a repeated submit gets, on Express 4 and 5.
import { createAsyncApi, problemTypes, type AsyncApi, type TaskRequest } from 'express-async-api';
import type { Express } from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { IdempotencyKeyError } from '../src/core/errors.js';
import { parseIdempotencyKey } from '../src/express/idempotency-key.js';
import { deferred, expressVersions, makeApp } from './helpers.js';

describe('parseIdempotencyKey', () => {
  it('reads a Structured Field string and a bare token, to the same key', () => {
    expect(parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseIdempotencyKey('8e03978e-40d5-43e8-bc93-6894a57f9324')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseIdempotencyKey('  "a b \\\\ \\"c\\""  ')).toBe('a b \\ "c"');
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
  });

  it.each([
    ['', 'empty'],
    ['""', 'empty key'],
    ['"unclosed', 'quoted string'],
    ['"a" ; x=1', 'quoted string'],
    ['"bad \\n escape"', 'quoted string'],
    ['"tab\there"', 'quoted string'],
    ['two words', 'quoted string'],
    ['key;param', 'quoted string'],
    ['"é"', 'quoted string'],
  ])('refuses %j', (value, says) => {
    expect(() => parseIdempotencyKey(value)).toThrow(IdempotencyKeyError);
    expect(() => parseIdempotencyKey(value)).toThrow(says);
  });

  it('refuses a key longer than 255 characters, quoted or not, without reading all of a 16 KB header', () => {
    expect(parseIdempotencyKey('k'.repeat(255))).toHaveLength(255);
    expect(() => parseIdempotencyKey('k'.repeat(256))).toThrow('at most 255 characters');
    expect(() => parseIdempotencyKey(`"${'k'.repeat(256)}"`)).toThrow('at most 255 characters');
    expect(() => parseIdempotencyKey(`"${'\\\\'.repeat(8_000)}"`)).toThrow('at most 255 characters');
  });
});

describe.each(expressVersions)('%s: Idempotency-Key on a submit', (_name, express) => {
  let tasks: AsyncApi;
  afterEach(async () => {
    await tasks?.close({ timeout: 50 });
  });

  function setup(routes: (app: Express, tasks: AsyncApi) => void): Express {
    tasks = createAsyncApi({ owner: (req) => req.get('x-user'), onError: () => {} });
    return makeApp(express, (app) => {
      app.use(express.json());
      routes(app, tasks);
      app.use(tasks.router);
    });
  }

  it('a repeated submit gets the same task, which runs once; a new key, a new task', async () => {
    const runs: string[] = [];
    const gate = deferred();
    const app = setup((app, tasks) =>
      app.post(
        '/reports/:kind',
        tasks.asyncApi(async (req: TaskRequest) => {
          runs.push(req.task.id);
          await gate.promise;
          return { kind: req.params.kind };
        }),
      ),
    );
    const submit = (key: string) => request(app).post('/reports/sales').set('Idempotency-Key', key).send({ month: '2026-10' });
    const first = await submit('"k-1"');
    const again = await Promise.all([submit('k-1'), submit('"k-1"')]);
    for (const response of again) {
      expect(response.status).toBe(202);
      expect(response.headers.location).toBe(first.headers.location);
      expect(response.body.id).toBe(first.body.id);
    }
    const other = await submit('k-2');
    expect(other.body.id).not.toBe(first.body.id);
    gate.resolve();
    const waited = await submit('k-1').set('Prefer', 'wait=5');
    expect(waited.status).toBe(200);
    expect(waited.body).toEqual({ kind: 'sales' });
    expect(runs).toEqual([first.body.id, other.body.id]);
  });

  it('the same key for another request is a 422 problem; another owner or route has keys of its own', async () => {
    const app = setup((app, tasks) => {
      app.post('/a/:id', tasks.asyncApi(() => ({ a: true })));
      app.post('/b/:id', tasks.asyncApi(() => ({ b: true })));
    });
    const first = await request(app).post('/a/1').set('Idempotency-Key', 'same').set('x-user', 'ann').send({ n: 1 });
    expect(first.status).toBe(202);
    for (const changed of [
      request(app).post('/a/1').set('Idempotency-Key', 'same').set('x-user', 'ann').send({ n: 2 }),
      request(app).post('/a/2').set('Idempotency-Key', 'same').set('x-user', 'ann').send({ n: 1 }),
      request(app).post('/a/1?x=1').set('Idempotency-Key', 'same').set('x-user', 'ann').send({ n: 1 }),
    ]) {
      const refused = await changed;
      expect(refused.status).toBe(422);
      expect(refused.headers['content-type']).toBe('application/problem+json');
      expect(refused.body).toMatchObject({ type: problemTypes.idempotencyKeyReused, status: 422 });
    }
    const bob = await request(app).post('/a/1').set('Idempotency-Key', 'same').set('x-user', 'bob').send({ n: 1 });
    const routeB = await request(app).post('/b/1').set('Idempotency-Key', 'same').set('x-user', 'ann').send({ n: 1 });
    expect(new Set([first.body.id, bob.body.id, routeB.body.id]).size).toBe(3);
  });

  it('a malformed or too long key is a 400 problem, and registers nothing; required means required', async () => {
    const ran: unknown[] = [];
    const app = setup((app, tasks) => {
      app.post('/o', tasks.asyncApi(() => ran.push(1)));
      app.post('/r', tasks.asyncApi(() => ran.push(2), { idempotency: 'required' }));
    });
    for (const key of ['two words', `"${'k'.repeat(256)}"`, '"open']) {
      const refused = await request(app).post('/o').set('Idempotency-Key', key);
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ type: problemTypes.idempotencyKey, status: 400 });
    }
    const missing = await request(app).post('/r');
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ type: problemTypes.idempotencyKey, detail: 'This route requires an Idempotency-Key header.' });
    expect((await request(app).post('/o')).status).toBe(202);
    expect((await request(app).post('/r').set('Idempotency-Key', 'ok')).status).toBe(202);
    expect(() => tasks.asyncApi(() => 1, { idempotency: 'always' as never })).toThrow("routeOptions.idempotency must be 'optional' or 'required'");
  });
});

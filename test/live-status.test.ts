import { request as httpRequest, type Server } from 'node:http';
import { createAsyncApi, MemoryStore, memoryBackend, problemTypes, type AsyncApi, type Task, type TaskRequest } from 'express-async-api';
import type { Express } from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deferred, expressVersions, makeApp, openEvents, untilStatus, type Deferred } from './helpers.js';

/** Waits, yielding to the event loop, until `condition` holds; bounded. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 20_000 && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  if (!condition()) throw new Error(`never: ${what}`);
}

describe.each(expressVersions)('%s: live status', (_name, express) => {
  let tasks: AsyncApi;
  let store: MemoryStore;
  let server: Server | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    server?.close();
    server = undefined;
    await tasks?.close({ timeout: 50 });
  });

  function setup(routes: (app: Express, tasks: AsyncApi) => void, options: Parameters<typeof createAsyncApi>[0] = {}): Express {
    store = new MemoryStore();
    tasks = createAsyncApi({ backend: memoryBackend({ store }), onError: () => {}, ...options });
    return makeApp(express, (app) => {
      routes(app, tasks);
      app.use(tasks.router);
    });
  }

  function listen(app: Express): Promise<Server> {
    return new Promise((resolve) => {
      server = app.listen(0, '127.0.0.1', () => resolve(server!));
    });
  }

  describe('Prefer: wait on the monitor', () => {
    it('holds the poll and answers the moment the task ends', async () => {
      const release = deferred();
      const app = setup((app, tasks) =>
        app.post(
          '/r',
          tasks.asyncApi(async (_req, res) => {
            await release.promise;
            res.status(201).json({ done: true });
          }),
        ),
      );
      const submitted = await request(app).post('/r');
      await untilStatus(request(app), submitted.headers.location, 'running');
      const held = request(app).get(submitted.headers.location!).set('Prefer', 'wait=20').then((response) => response);
      // The poll is waiting on the task when both the task's runner and the poll watch it.
      await until(() => store.watcherCount(submitted.body.id) === 2, 'the poll watches the task');
      release.resolve();
      const answer = await held;
      expect(answer.status).toBe(201);
      expect(answer.body).toEqual({ done: true });
      expect(answer.headers['preference-applied']).toBe('wait=20');
      expect(answer.headers.vary).toMatch(/Prefer/);
    });

    it('answers 202 when the wait runs out, capped by maxWait', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const app = setup((app, tasks) => app.post('/r', tasks.asyncApi(() => new Promise(() => {}))), { maxWait: 2 });
      const submitted = await request(app).post('/r');
      const held = request(app).get(submitted.headers.location!).set('Prefer', 'respond-async, wait=100').then((response) => response);
      await until(() => store.watcherCount(submitted.body.id) === 2, 'the poll watches the task');
      await vi.advanceTimersByTimeAsync(2_000);
      const answer = await held;
      expect(answer.status).toBe(202);
      expect(answer.headers['preference-applied']).toBe('wait=2');
      expect(answer.headers.vary).toBe('Prefer');
      expect(answer.body).toMatchObject({ id: submitted.body.id, status: 'running' });
    });

    it('answers at once for a finished task, and says Vary: Prefer on every 202', async () => {
      const gate = deferred();
      const app = setup((app, tasks) => {
        app.post('/done', tasks.asyncApi(() => 'ok'));
        app.post(
          '/later',
          tasks.asyncApi(async () => {
            await gate.promise;
            return 'later';
          }),
        );
      });
      const later = await request(app).post('/later');
      expect((await request(app).get(later.headers.location!)).headers.vary).toBe('Prefer');
      gate.resolve();
      const done = await request(app).post('/done');
      await until(() => store.size === 2, 'both tasks registered');
      const answer = await request(app).get(done.headers.location!).set('Prefer', 'wait=10');
      expect(answer.status).toBe(200);
      expect(answer.text).toBe('"ok"');
      expect(answer.headers['preference-applied']).toBe('wait=10');
    });

    it('forgets a poll whose client went away: no watcher, no timer', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const app = setup((app, tasks) => app.post('/r', tasks.asyncApi(() => new Promise(() => {}))));
      const listening = await listen(app);
      const submitted = await request(app).post('/r');
      const { port } = listening.address() as { port: number };
      const poll = httpRequest({ host: '127.0.0.1', port, path: submitted.headers.location, headers: { Prefer: 'wait=30' } });
      poll.on('error', () => {});
      poll.end();
      await until(() => store.watcherCount(submitted.body.id) === 2, 'the poll watches the task');
      const timersWhileHeld = vi.getTimerCount();
      poll.destroy();
      await until(() => store.watcherCount(submitted.body.id) === 1, 'the poll stopped watching');
      expect(vi.getTimerCount()).toBe(timersWhileHeld - 1);
    });

    it('ignores a wait that is not a number of seconds', async () => {
      const app = setup((app, tasks) => app.post('/r', tasks.asyncApi(() => new Promise(() => {}))));
      const submitted = await request(app).post('/r');
      const answer = await request(app).get(submitted.headers.location!).set('Prefer', 'wait=soon');
      expect(answer.status).toBe(202);
      expect(answer.headers['preference-applied']).toBeUndefined();
    });
  });

  describe('Prefer on the submit', () => {
    it('wait=N answers with the task\'s own response when it ends in time', async () => {
      const app = setup((app, tasks) => app.post('/quick', tasks.asyncApi((_req, res) => res.status(201).set('X-Kind', 'quick').json({ quick: true }))));
      const answer = await request(app).post('/quick').set('Prefer', 'wait=5');
      expect(answer.status).toBe(201);
      expect(answer.headers['x-kind']).toBe('quick');
      expect(answer.body).toEqual({ quick: true });
      expect(answer.headers['preference-applied']).toBe('wait=5');
      expect(answer.headers.vary).toMatch(/Prefer/);
    });

    it('wait=N answers a failure with its problem document', async () => {
      const app = setup((app, tasks) =>
        app.post(
          '/bad',
          tasks.asyncApi(() => {
            throw Object.assign(new Error('no such period'), { status: 422 });
          }),
        ),
      );
      const answer = await request(app).post('/bad').set('Prefer', 'wait=5');
      expect(answer.status).toBe(422);
      expect(answer.body).toMatchObject({ detail: 'no such period', instance: expect.stringMatching(/^\/status\//) });
    });

    it('wait=N answers 202 when the task has not ended in time', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const app = setup((app, tasks) => app.post('/slow', tasks.asyncApi(() => new Promise(() => {}))));
      const answer = request(app).post('/slow').set('Prefer', 'wait=3').then((response) => response);
      await until(() => store.watcherCount() === 2, 'the submit waits on its task');
      await vi.advanceTimersByTimeAsync(3_000);
      const response = await answer;
      expect(response.status).toBe(202);
      expect(response.headers.location).toMatch(/^\/status\//);
      expect(response.headers['preference-applied']).toBe('wait=3');
    });

    it('respond-async answers 202 at once and says so', async () => {
      const app = setup((app, tasks) => app.post('/r', tasks.asyncApi(() => 'done')));
      const answer = await request(app).post('/r').set('Prefer', 'respond-async');
      expect(answer.status).toBe(202);
      expect(answer.headers['preference-applied']).toBe('respond-async');
    });
  });

  describe('Server-Sent Events', () => {
    it('sends progress events, then the final status with the reply, then ends', async () => {
      const steps = [deferred(), deferred()];
      const app = setup((app, tasks) =>
        app.post(
          '/steps',
          tasks.asyncApi(async (req: TaskRequest, res) => {
            await steps[0]!.promise;
            req.task.progress(0.5, 'half');
            await steps[1]!.promise;
            res.status(201).set('X-Done', 'yes').json({ all: 'done' });
          }),
        ),
      );
      const listening = await listen(app);
      const submitted = await request(app).post('/steps');
      await untilStatus(request(app), submitted.headers.location, 'running');
      const stream = openEvents(listening, submitted.headers.location!);
      await until(() => stream.events.length === 1, 'the first event');
      steps[0]!.resolve();
      await until(() => stream.events.length === 2, 'the progress event');
      steps[1]!.resolve();
      const { response } = await stream.ended;
      const { events } = stream;
      expect(response.headers['content-type']).toBe('text/event-stream');
      expect(response.headers['cache-control']).toBe('no-store');
      expect(events.map((e) => e.event)).toEqual(['progress', 'progress', 'done']);
      expect(JSON.parse(events[0]!.data)).toMatchObject({ id: submitted.body.id, status: 'running' });
      expect(JSON.parse(events[1]!.data)).toMatchObject({ status: 'running', progress: 0.5, message: 'half' });
      const done = JSON.parse(events[2]!.data);
      expect(done).toMatchObject({ id: submitted.body.id, status: 'succeeded', finishedAt: expect.any(String) });
      expect(done.reply).toEqual({
        status: 201,
        headers: {
          'x-powered-by': 'Express',
          'x-done': 'yes',
          'content-type': 'application/json; charset=utf-8',
          'content-length': '14',
          etag: expect.stringMatching(/^W\/"e-/),
        },
        body: '{"all":"done"}',
      });
      expect(store.watcherCount()).toBe(0);
    });

    it('ends at once with the final event of a finished task: its problem, or a binary reply in base64', async () => {
      const app = setup((app, tasks) => {
        app.post(
          '/fails',
          tasks.asyncApi(() => {
            throw Object.assign(new Error('not allowed'), { status: 403 });
          }),
        );
        app.post('/bytes', tasks.asyncApi((_req, res) => res.type('bin').send(Buffer.from([0, 255]))));
      });
      const listening = await listen(app);
      const fails = await request(app).post('/fails');
      const bytes = await request(app).post('/bytes');
      await until(() => store.size === 2, 'registered');
      for (const location of [fails.headers.location!, bytes.headers.location!]) {
        for (let polls = 0; (await request(app).get(location)).status === 202 && polls < 1000; polls++);
      }
      const failed = openEvents(listening, fails.headers.location!);
      await failed.ended;
      expect(failed.events.map((e) => e.event)).toEqual(['done']);
      expect(JSON.parse(failed.events[0]!.data)).toMatchObject({
        status: 'failed',
        problem: { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'not allowed', instance: fails.headers.location },
      });
      const binary = openEvents(listening, bytes.headers.location!);
      await binary.ended;
      expect(JSON.parse(binary.events[0]!.data).reply).toMatchObject({ status: 200, body: 'AP8=', bodyEncoding: 'base64' });
    });

    it('keeps an end heard while the task is read: a read that answers late, with the task as it was (as Redis may), loses nothing', async () => {
      // A store whose reads answer when the test says, with the task as it was when asked: a
      // change may be heard first, as with Redis, where changes come on another connection.
      class LateReads extends MemoryStore {
        held: Deferred<void> | undefined;
        readonly reading = deferred();
        override async get(id: string) {
          const now = await super.get(id);
          const then = now === undefined ? undefined : (JSON.parse(JSON.stringify(now)) as Task);
          const held = this.held;
          if (held !== undefined) {
            this.reading.resolve();
            await held.promise;
          }
          return then;
        }
      }
      const late = new LateReads();
      const end = deferred();
      const app = setup((app, tasks) => app.post('/ends', tasks.asyncApi(async () => (await end.promise, { ok: true }))), { backend: memoryBackend({ store: late }) });
      const listening = await listen(app);
      const submitted = await request(app).post('/ends');
      const held = (late.held = deferred());
      const stream = openEvents(listening, submitted.headers.location!);
      await late.reading.promise;
      late.held = undefined;
      const ended = new Promise<void>((resolve) => late.watch(submitted.body.id, (task) => task.status === 'succeeded' && resolve()));
      end.resolve();
      await ended;
      // The stream heard of the end; now its read answers: the task as it was before.
      held.resolve();
      const { response } = await stream.ended;
      expect(response.headers['content-type']).toBe('text/event-stream');
      expect(stream.events.map((e) => e.event)).toEqual(['done']);
      expect(JSON.parse(stream.events[0]!.data)).toMatchObject({ status: 'succeeded', reply: { status: 200, body: '{"ok":true}' } });
    });

    it('sends heartbeat comments while the task is quiet', async () => {
      const app = setup((app, tasks) => app.post('/quiet', tasks.asyncApi(() => new Promise(() => {}))), { heartbeat: 10 });
      const listening = await listen(app);
      const submitted = await request(app).post('/quiet');
      const { events, comments, ended } = openEvents(listening, submitted.headers.location!, 3);
      await ended;
      expect(events.map((e) => e.event)).toEqual(['progress']);
      expect(comments).toEqual([': heartbeat', ': heartbeat']);
    });

    it('answers an unknown task with a 404 problem, not a stream', async () => {
      const app = setup(() => {});
      const answer = await request(app).get('/status/nope').set('Accept', 'text/event-stream');
      expect(answer.status).toBe(404);
      expect(answer.body.type).toBe(problemTypes.taskNotFound);
    });

    it('leaves no listener behind after 10,000 clients connected and went away', async () => {
      const app = setup((app, tasks) => app.post('/quiet', tasks.asyncApi(() => new Promise(() => {}))));
      const listening = await listen(app);
      const submitted = await request(app).post('/quiet');
      const id = submitted.body.id as string;
      await until(() => store.watcherCount(id) === 1, 'the runner watches the task');
      let cycles = 0;
      const client = async () => {
        while (cycles < 10_000) {
          cycles++;
          await openEvents(listening, submitted.headers.location!, 1).ended;
        }
      };
      await Promise.all(Array.from({ length: 16 }, client));
      // Only the task's own runner is left.
      await until(() => store.watcherCount() === 1, 'every stream stopped watching');
      expect(store.watcherCount(id)).toBe(1);
    }, 120_000);
  });
});


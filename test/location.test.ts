import { createServer, request as httpRequest, type Server } from 'node:http';
import {
  createAsyncApi,
  InvalidArgumentError,
  MemoryStore,
  memoryBackend,
  problemTypes,
  TaskCanceledError,
  type AsyncApi,
  type AsyncApiOptions,
  type TaskRequest,
} from 'express-async-api';
import type { Express, NextFunction, Request, RequestHandler, Response as ExpressResponse } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { deferred, expressVersions, uuidV4, type Deferred } from './helpers.js';

type ExpressFactory = (typeof expressVersions)[number][1];

// The Location of a submit is built from where the wrapped route is mounted, which only a
// real request through Express's own routing reveals: every layout below is served on a
// listening socket and followed with fetch, as any client of the pattern would.
describe.each(expressVersions)('%s', (_name, express) => {
  const instances: AsyncApi[] = [];
  const servers: Server[] = [];
  const gates: Deferred<void>[] = [];
  afterEach(async () => {
    // A task still waiting on its gate would hold close() for its whole timeout.
    for (const gate of gates.splice(0)) gate.resolve();
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      server.close();
    }
    await Promise.all(instances.splice(0).map((tasks) => tasks.close({ timeout: 50 })));
  });

  function api(options?: AsyncApiOptions<Request>): AsyncApi {
    const tasks = createAsyncApi(options);
    instances.push(tasks);
    return tasks;
  }

  function gate(): Deferred<void> {
    const gate = deferred();
    gates.push(gate);
    return gate;
  }

  function listen(server: Server | Express): Promise<string> {
    return new Promise((resolve) => {
      const listening: Server = server.listen(0, '127.0.0.1', () =>
        resolve(`http://127.0.0.1:${(listening.address() as { port: number }).port}`),
      );
      servers.push(listening);
    });
  }

  // Held on `release` so that the monitor answers 202 at least once: its Location is
  // compared with the submit's. The answer names what the handler saw of its request.
  function reportRoute(tasks: AsyncApi, release: Deferred<void>): RequestHandler {
    return tasks.asyncApi(async (req: TaskRequest, res) => {
      await release.promise;
      res.status(201).set('X-Report', 'built').json({ baseUrl: req.baseUrl, params: req.params, body: req.body });
    });
  }

  // What a plain client does: resolve the Location against the URL it came from, poll it
  // until it stops answering 202. Every 202 must name the same Location.
  async function follow(submitUrl: string, location: string, release: Deferred<void>) {
    const monitor = new URL(location, submitUrl);
    // `//status/…` would resolve to a host named `status`.
    expect(monitor.origin).toBe(new URL(submitUrl).origin);
    // Already a valid, normalised path: the client asks for exactly what the server named.
    expect(monitor.pathname).toBe(location);
    const live = await fetch(monitor);
    expect(live.status).toBe(202);
    expect(live.headers.get('location')).toBe(location);
    await live.body?.cancel();
    release.resolve();
    for (let polls = 0; polls < 2_000; polls++) {
      const response = await fetch(monitor);
      if (response.status !== 202) return response;
      expect(response.headers.get('location')).toBe(location);
      await response.body?.cancel();
      await new Promise((resolve) => setImmediate(resolve));
    }
    throw new Error(`${monitor.href} still answered 202 after 2000 polls`);
  }

  async function submit(url: string) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 7 }),
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    expect(id).toMatch(uuidV4);
    return { id, location: response.headers.get('location')! };
  }

  async function expectReport(response: Response, seen: { baseUrl: string; params: Record<string, string> }) {
    expect(response.status).toBe(201);
    expect(response.headers.get('x-report')).toBe('built');
    expect(await response.json()).toEqual({ ...seen, body: { n: 7 } });
  }

  interface Layout {
    name: string;
    /** Where the client posts, and the Location it must get, before the id. */
    submit: string;
    monitor: string;
    /** req.baseUrl and req.params as the handler sees them. */
    seen: { baseUrl: string; params: Record<string, string> };
    /** Sets up `app`, the one that listens, which parses JSON before any routing. */
    build(app: Express, express: ExpressFactory, route: RequestHandler, tasks: AsyncApi): void;
  }

  const layouts: Layout[] = [
    {
      name: 'a route on the app',
      submit: '/reports',
      monitor: '/status/',
      seen: { baseUrl: '', params: {} },
      build(app, express, route, tasks) {
        app.post('/reports', route);
        app.use(tasks.router);
      },
    },
    {
      name: 'a Router at /api',
      submit: '/api/reports',
      monitor: '/api/status/',
      seen: { baseUrl: '/api', params: {} },
      build(app, express, route, tasks) {
        const router = express.Router();
        router.post('/reports', route);
        router.use(tasks.router);
        app.use('/api', router);
      },
    },
    {
      name: 'nested Routers /api then /v2',
      submit: '/api/v2/reports',
      monitor: '/api/v2/status/',
      seen: { baseUrl: '/api/v2', params: {} },
      build(app, express, route, tasks) {
        const v2 = express.Router();
        v2.post('/reports', route);
        v2.use(tasks.router);
        const api = express.Router();
        api.use('/v2', v2);
        app.use('/api', api);
      },
    },
    {
      name: 'a Router at /users/:uid with mergeParams',
      submit: '/users/42/reports',
      monitor: '/users/42/status/',
      seen: { baseUrl: '/users/42', params: { uid: '42' } },
      build(app, express, route, tasks) {
        const router = express.Router({ mergeParams: true });
        router.post('/reports', route);
        router.use(tasks.router);
        app.use('/users/:uid', router);
      },
    },
    {
      // The mount path has the parameter's value whether or not the Router merges params.
      name: 'a Router at /users/:uid without mergeParams',
      submit: '/users/42/reports',
      monitor: '/users/42/status/',
      seen: { baseUrl: '/users/42', params: {} },
      build(app, express, route, tasks) {
        const router = express.Router();
        router.post('/reports', route);
        router.use(tasks.router);
        app.use('/users/:uid', router);
      },
    },
    {
      name: 'a sub-app at /',
      submit: '/reports',
      monitor: '/status/',
      seen: { baseUrl: '', params: {} },
      build(app, express, route, tasks) {
        const sub = express();
        sub.post('/reports', route);
        sub.use(tasks.router);
        app.use('/', sub);
      },
    },
    {
      name: 'a sub-app mounted without a path, holding a Router at /',
      submit: '/reports',
      monitor: '/status/',
      seen: { baseUrl: '', params: {} },
      build(app, express, route, tasks) {
        const router = express.Router();
        router.post('/reports', route);
        router.use(tasks.router);
        const sub = express();
        sub.use('/', router);
        app.use(sub);
      },
    },
    {
      name: 'a sub-app at /v1',
      submit: '/v1/reports',
      monitor: '/v1/status/',
      seen: { baseUrl: '/v1', params: {} },
      build(app, express, route, tasks) {
        const sub = express();
        sub.post('/reports', route);
        sub.use(tasks.router);
        app.use('/v1', sub);
      },
    },
    {
      name: 'a sub-app in a Router in a sub-app',
      submit: '/outer/mid/inner/reports',
      monitor: '/outer/mid/inner/status/',
      seen: { baseUrl: '/outer/mid/inner', params: {} },
      build(app, express, route, tasks) {
        const subB = express();
        subB.post('/reports', route);
        subB.use(tasks.router);
        const router = express.Router();
        router.use('/inner', subB);
        const subA = express();
        subA.use('/mid', router);
        app.use('/outer', subA);
      },
    },
    {
      // Express matches and slices the path as it came, still percent-encoded.
      name: 'a Router at a percent-encoded path',
      submit: '/caf%C3%A9/reports',
      monitor: '/caf%C3%A9/status/',
      seen: { baseUrl: '/caf%C3%A9', params: {} },
      build(app, express, route, tasks) {
        const router = express.Router();
        router.post('/reports', route);
        router.use(tasks.router);
        app.use('/caf%C3%A9', router);
      },
    },
    {
      // The parameter is decoded for req.params, not in the mount path the Location is built from.
      name: 'a Router at /users/:uid with a percent-encoded value',
      submit: '/users/a%20b/reports',
      monitor: '/users/a%20b/status/',
      seen: { baseUrl: '/users/a%20b', params: { uid: 'a b' } },
      build(app, express, route, tasks) {
        const router = express.Router({ mergeParams: true });
        router.post('/reports', route);
        router.use(tasks.router);
        app.use('/users/:uid', router);
      },
    },
  ];

  describe.each(layouts)('$name', (layout) => {
    it(`answers with Location ${layout.monitor}<id> and replays the handler's response there`, async () => {
      const tasks = api();
      const release = gate();
      const app = express();
      app.use(express.json());
      layout.build(app, express, reportRoute(tasks, release), tasks);
      const base = await listen(app);
      const submitUrl = base + layout.submit;
      const { id, location } = await submit(submitUrl);
      expect(location).toBe(`${layout.monitor}${id}`);
      await expectReport(await follow(submitUrl, location, release), layout.seen);
    });
  });

  describe('a custom statusPath', () => {
    it('serves /jobs/<id> under a Router, and not /status', async () => {
      const tasks = api({ statusPath: '/jobs' });
      const release = gate();
      const router = express.Router();
      router.post('/reports', reportRoute(tasks, release));
      router.use(tasks.router);
      const app = express();
      app.use(express.json());
      app.use('/api', router);
      const base = await listen(app);
      const { id, location } = await submit(`${base}/api/reports`);
      expect(location).toBe(`/api/jobs/${id}`);
      // Not a monitor path: it passes through to Express's own 404.
      const elsewhere = await fetch(`${base}/api/status/${id}`);
      expect(elsewhere.status).toBe(404);
      expect(elsewhere.headers.get('content-type')).not.toContain('problem+json');
      await elsewhere.body?.cancel();
      await expectReport(await follow(`${base}/api/reports`, location, release), { baseUrl: '/api', params: {} });
    });
  });

  describe('the location option', () => {
    it('points at a monitor mounted elsewhere, and is asked again by the monitor', async () => {
      const askedFrom: string[] = [];
      const tasks = api({
        location: (req, id) => {
          askedFrom.push(req.baseUrl);
          return `/monitor/status/${id}`;
        },
      });
      const release = gate();
      const router = express.Router();
      router.post('/reports', reportRoute(tasks, release));
      const app = express();
      app.use(express.json());
      app.use('/api', router);
      app.use('/monitor', tasks.router);
      const base = await listen(app);
      const { id, location } = await submit(`${base}/api/reports`);
      expect(location).toBe(`/monitor/status/${id}`);
      await expectReport(await follow(`${base}/api/reports`, location, release), { baseUrl: '/api', params: {} });
      // The submit, then every poll: a 202 and the final answer alike name the task's URL.
      expect(askedFrom[0]).toBe('/api');
      expect(askedFrom.length).toBeGreaterThanOrEqual(3);
      expect(new Set(askedFrom.slice(1))).toEqual(new Set(['/monitor']));
    });

    it('puts back the prefix a reverse proxy strips, taken from X-Forwarded-Prefix', async () => {
      const tasks = api({ location: (req, id) => `${req.get('x-forwarded-prefix') ?? ''}${req.baseUrl}/status/${id}` });
      const release = gate();
      const router = express.Router();
      router.post('/reports', reportRoute(tasks, release));
      router.use(tasks.router);
      const app = express();
      app.use(express.json());
      app.use('/api', router);
      const upstream = await listen(app);
      // The proxy serves the app under /gateway: it strips the prefix and says so in a header.
      const proxy = createServer((req, res) => {
        if (!req.url!.startsWith('/gateway/')) {
          res.writeHead(404).end();
          return;
        }
        const forwarded = httpRequest(
          upstream + req.url!.slice('/gateway'.length),
          { method: req.method, headers: { ...req.headers, 'x-forwarded-prefix': '/gateway' } },
          (answer) => {
            res.writeHead(answer.statusCode!, answer.headers);
            answer.pipe(res);
          },
        );
        req.pipe(forwarded);
      });
      const base = await listen(proxy);
      const submitUrl = `${base}/gateway/api/reports`;
      const { id, location } = await submit(submitUrl);
      expect(location).toBe(`/gateway/api/status/${id}`);
      // Monitor requests come through the proxy too, so their 202s name the same URL.
      await expectReport(await follow(submitUrl, location, release), { baseUrl: '/api', params: {} });
    });

    it.each([
      ['a number', 42, '42'],
      ['undefined', undefined, 'undefined'],
      ['an empty string', '', '""'],
    ])('passes %s to the app as an InvalidArgumentError, and registers nothing', async (_what, value, shown) => {
      const store = new MemoryStore();
      const tasks = api({ location: () => value as never, backend: memoryBackend({ store }) });
      let ran = false;
      const errors: unknown[] = [];
      const router = express.Router();
      router.post(
        '/reports',
        tasks.asyncApi(() => {
          ran = true;
        }),
      );
      router.use(tasks.router);
      const app = express();
      app.use('/api', router);
      app.use((error: unknown, _req: Request, res: ExpressResponse, _next: NextFunction) => {
        errors.push(error);
        res.status(500).send('the app saw it');
      });
      const base = await listen(app);
      const response = await fetch(`${base}/api/reports`, { method: 'POST' });
      expect(response.status).toBe(500);
      expect(await response.text()).toBe('the app saw it');
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(InvalidArgumentError);
      expect((errors[0] as Error).message).toBe(`options.location must return a URL string, got ${shown}`);
      expect(store.size).toBe(0);
      // The job was never started: a later turn would have run the handler.
      await new Promise((resolve) => setImmediate(resolve));
      expect(ran).toBe(false);
    });
  });

  describe('DELETE on the followed Location', () => {
    it('cancels the task: its signal aborts and the monitor answers 409', async () => {
      const tasks = api();
      const release = gate();
      const started = deferred();
      let reason: unknown;
      const v2 = express.Router();
      v2.post(
        '/reports',
        tasks.asyncApi(async (req: TaskRequest, res) => {
          req.task.signal.addEventListener('abort', () => {
            reason = req.task.signal.reason;
          });
          started.resolve();
          await release.promise;
          // Dropped: the task was canceled before it wrote.
          res.status(201).json({ late: true });
        }),
      );
      v2.use(tasks.router);
      const api1 = express.Router();
      api1.use('/v2', v2);
      const app = express();
      app.use('/api', api1);
      const base = await listen(app);
      const submitUrl = `${base}/api/v2/reports`;
      const { id, location } = await submit(submitUrl);
      expect(location).toBe(`/api/v2/status/${id}`);
      await started.promise;

      const monitor = new URL(location, submitUrl);
      const canceled = await fetch(monitor, { method: 'DELETE' });
      expect(canceled.status).toBe(200);
      expect(await canceled.json()).toMatchObject({ id, status: 'canceled' });
      expect(reason).toBeInstanceOf(TaskCanceledError);

      release.resolve();
      const after = await fetch(monitor);
      expect(after.status).toBe(409);
      expect(await after.json()).toMatchObject({ type: problemTypes.taskCanceled, status: 409 });
      const again = await fetch(monitor, { method: 'DELETE' });
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({ type: problemTypes.taskFinished });
    });
  });
});

// Route names (the dashboard's route, the metrics' `route` label, the spans' names) are the
// route's patterns, mount paths included: never a path parameter's value.
import type { Server } from 'node:http';
import { createAsyncApi, MemoryStore, memoryBackend, InvalidOptionError, type AsyncApi } from 'express-async-api';
import { asyncApiMetrics } from 'express-async-api/metrics';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { expressVersions } from './helpers.js';

let tasks: AsyncApi | undefined;
let server: Server | undefined;
afterEach(async () => {
  server?.close();
  server = undefined;
  await tasks?.close({ timeout: 100 });
  tasks = undefined;
});

function setUp() {
  const store = new MemoryStore();
  const registry = new Registry();
  tasks = createAsyncApi({ backend: memoryBackend({ store }), metrics: asyncApiMetrics({ registry }) });
  return { store, registry, tasks };
}

// The distinct route names of the tasks held.
async function routesOf(store: MemoryStore): Promise<string[]> {
  const { tasks: held } = await store.list({ limit: 500 });
  return [...new Set(held.map((task) => task.route))].sort() as string[];
}

async function labels(registry: Registry): Promise<string[]> {
  const metric = registry.getSingleMetric('async_api_tasks_submitted_total')!;
  return [...new Set((await metric.get()).values.map((sample) => String(sample.labels.route)))].sort();
}

describe.each(expressVersions)('route names, %s', (_name, express) => {
  for (const mergeParams of [false, true]) {
    it(`a Router mounted at /users/:uid (mergeParams: ${mergeParams}): 1,000 users make one label value`, async () => {
      const { store, registry } = setUp();
      const app = express();
      const users = express.Router({ mergeParams });
      users.post('/reports/:kind', tasks!.asyncApi(() => ({ ok: true })));
      users.use(tasks!.router);
      app.use('/users/:uid', users);
      server = app.listen(0, '127.0.0.1');
      const agent = request(server);
      for (let user = 0; user < 1_000; user++) {
        const response = await agent.post(`/users/${user}/reports/${user % 7}?page=${user}`);
        expect(response.status).toBe(202);
        // The monitor is still next to the route, at the request's own mount path.
        expect(response.headers.location).toMatch(new RegExp(`^/users/${user}/status/`));
      }
      expect(await labels(registry)).toEqual(['POST /users/:uid/reports/:kind']);
      expect(await routesOf(store)).toEqual(['POST /users/:uid/reports/:kind']);
      // The URL keeps its values: it is what the dashboard shows and searches.
      expect((await store.list({ text: 'users 999' })).tasks.map((task) => task.url)).toEqual(['/users/999/reports/5?page=999']);
    });
  }

  it('names nested Routers, a handler mounted with app.use(), and an app mounted in another by their patterns', async () => {
    const { store } = setUp();
    const app = express();
    const orgs = express.Router();
    const teams = express.Router();
    teams.post('/reports/:kind', tasks!.asyncApi(() => ({ ok: true })));
    orgs.use('/teams/:team', teams);
    app.use('/orgs/:org', orgs);
    app.use('/things/:id', tasks!.asyncApi(() => ({ ok: true })));
    const api = express();
    api.post('/items/:item', tasks!.asyncApi(() => ({ ok: true })));
    app.use('/api/:version', api);
    const plain = express.Router();
    plain.put('/', tasks!.asyncApi(() => ({ ok: true })));
    app.use('/plain/mount', plain);
    const agent = request(app);
    for (const n of [1, 2]) {
      expect((await agent.post(`/orgs/o${n}/teams/t${n}/reports/r${n}`)).status).toBe(202);
      expect((await agent.post(`/things/${n}/more/${n}`)).status).toBe(202);
      expect((await agent.post(`/api/v${n}/items/${n}`)).status).toBe(202);
      expect((await agent.put('/plain/mount')).status).toBe(202);
    }
    expect(await routesOf(store)).toEqual(['POST /api/:version/items/:item', 'POST /orgs/:org/teams/:team/reports/:kind', 'POST /things/:id/*', 'PUT /plain/mount']);
  });

  it('a Router mounted at two paths is named by the one each request came through', async () => {
    const { store } = setUp();
    const app = express();
    const reports = express.Router();
    reports.post('/:kind', tasks!.asyncApi(() => ({ ok: true })));
    app.use('/a/:x', reports);
    app.use('/b/:y/c', reports);
    const agent = request(app);
    expect((await agent.post('/a/1/k')).status).toBe(202);
    expect((await agent.post('/b/2/c/k')).status).toBe(202);
    expect((await agent.post('/a/3/k')).status).toBe(202);
    expect(await routesOf(store)).toEqual(['POST /a/:x/:kind', 'POST /b/:y/c/:kind']);
  });

  it('the route option name replaces the name', async () => {
    const { store, registry } = setUp();
    const app = express();
    app.post('/refunds/:id', tasks!.asyncApi(() => ({ ok: true }), { name: 'refunds' }));
    expect((await request(app).post('/refunds/7')).status).toBe(202);
    expect(await routesOf(store)).toEqual(['refunds']);
    expect(await labels(registry)).toEqual(['refunds']);
  });
});

it('refuses a name that is not a non-empty string', () => {
  tasks = createAsyncApi();
  expect(() => tasks!.asyncApi(() => {}, { name: '' })).toThrow(InvalidOptionError);
  expect(() => tasks!.asyncApi(() => {}, { name: 7 as never })).toThrow('routeOptions.name must be a non-empty string of at most 200 characters, got 7');
});

// The server side of bench/dashboard.js, each in a process of its own:
//   node --expose-gc bench/dashboard-server.js memory COUNT
//     fills a MemoryStore with COUNT tasks of the mix, tells the parent ('filled'), and when
//     told ('measure'; the parent may be filling Redis meanwhile) times store.list() in this
//     fresh process (GET /__bench/results answers the figures), then serves tasks.dashboard()
//     over the store at /admin/tasks.
//   node bench/dashboard-server.js redis QUEUE
//     tasks.dashboard() of bullmqBackend({ queue: QUEUE }) at /admin/tasks: the tasks the
//     parent put in Redis.
//   node bench/dashboard-server.js bullboard QUEUE
//     Bull Board's API (bench/bull-board.js) over the BullMQ queue QUEUE; and GET
//     /__bench/floor?bytes=N, plain Express answering N bytes of JSON at once.
import { Queue } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { MemoryStore, createAsyncApi, memoryBackend } from '../dist/index.js';
import { bullmqBackend } from '../dist/bullmq.js';
import { bullBoardApi, serveBullBoard } from './bull-board.js';
import { COMMON_WORD, RARE_COUNT, RARE_WORD, record, shuffler, summary, taskMix } from './dashboard-mix.js';
import { serve } from './serve.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const [mode, arg] = process.argv.slice(2);
const app = express();

if (mode === 'memory') {
  const count = Number(arg);
  const { store, results } = await memoryStoreLists(count);
  app.get('/__bench/results', (_req, res) => res.json(results));
  const tasks = createAsyncApi({ backend: memoryBackend({ store }), maxTasks: count + 100_000 });
  app.use('/admin/tasks', tasks.dashboard());
  serve(app, tasks);
} else if (mode === 'redis') {
  const tasks = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue: arg, workerCheckInterval: 0 }), ttl: 3_600_000, maxTasks: 200_000 });
  app.use('/admin/tasks', tasks.dashboard());
  serve(app, tasks);
} else if (mode === 'bullboard') {
  const client = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(arg, { connection: client });
  // The floor of a page over HTTP: a plain route answering JSON of the given size, at once.
  const floors = new Map();
  app.get('/__bench/floor', (req, res) => {
    const bytes = Number(req.query.bytes);
    if (!floors.has(bytes)) floors.set(bytes, JSON.stringify({ text: 'x'.repeat(Math.max(0, bytes - 12)) }));
    res.type('json').send(floors.get(bytes));
  });
  serveBullBoard(app, express, bullBoardApi(queue));
  serve(app, queue, { close: () => client.quit() });
} else {
  throw new Error(`unknown mode ${mode}`);
}

// 1,000,000 tasks in a MemoryStore, then pages of them: each query BENCH_RUNS times, round robin
// in a new order each round.
async function memoryStoreLists(count) {
  const runs = Number(process.env.BENCH_RUNS ?? 200);
  // Kept an hour: the mix's tasks finished in the last minutes, and must not expire meanwhile.
  const store = new MemoryStore({ maxTasks: count + 100_000, ttl: 3_600_000 });
  // The newest 1 % are live (half queued, half running); of the others 3 % failed, 1 % canceled.
  const statuses = (i) => (i >= count * 0.99 ? (i % 2 === 0 ? 'queued' : 'running') : i % 100 < 3 ? 'failed' : i % 100 === 3 ? 'canceled' : 'succeeded');
  globalThis.gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const fillStart = performance.now();
  let known;
  for (const task of taskMix(count, { spacing: 0.6, statuses })) {
    await record(store, task);
    if (task.index === Math.floor(count / 2)) known = { id: task.id, createdAt: task.createdAt };
  }
  const fill = performance.now() - fillStart;
  globalThis.gc();
  const heapPerTask = (process.memoryUsage().heapUsed - heapBefore) / count;
  process.send('filled');
  await new Promise((resolve) => process.once('message', resolve));

  // The cursor of page 2,000, by following the cursors of the pages before it.
  const walkStart = performance.now();
  let cursor;
  for (let page = 1; page < 2_000; page++) cursor = (await store.list({ limit: 50, cursor })).next;
  const walk = performance.now() - walkStart;

  const now = Date.now();
  const queries = {
    first: { limit: 50 },
    page2000: { limit: 50, cursor },
    middle: { limit: 50, to: known.createdAt },
    failed: { status: ['failed'], limit: 50 },
    route: { route: 'POST /exports/:format', limit: 50 },
    failedExports: { status: ['failed'], route: 'POST /exports/:format', from: now - 3_600_000, limit: 50 },
    id8: { id: known.id.slice(0, 8) },
    id6: { id: known.id.slice(0, 6) },
    rare: { text: RARE_WORD },
    common: { text: COMMON_WORD, limit: 50 },
  };
  const samples = Object.fromEntries(Object.keys(queries).map((name) => [name, []]));
  const found = {};
  const order = Object.entries(queries);
  const shuffle = shuffler();
  for (let run = -20; run < runs; run++) {
    shuffle(order);
    for (const [name, query] of order) {
      const start = performance.now();
      const page = await store.list(query);
      const ms = performance.now() - start;
      if (run >= 0) samples[name].push(ms);
      found[name] = page.tasks.length;
      if (name === 'id8' && page.tasks[0]?.id !== known.id) throw new Error('the id prefix did not find its task');
    }
  }
  for (const name of ['first', 'page2000', 'middle', 'failed', 'route', 'failedExports', 'common']) {
    if (found[name] !== 50) throw new Error(`the ${name} page has ${found[name]} tasks, not 50`);
  }
  if (found.rare !== RARE_COUNT) throw new Error(`the search for "${RARE_WORD}" found ${found.rare} tasks, not ${RARE_COUNT}`);
  const results = {
    count,
    fill,
    walk,
    heapPerTask,
    cursor,
    known,
    found,
    lists: Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, summary(values)])),
  };
  return { store, results };
}

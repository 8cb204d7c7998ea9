// The server side of bench/threads.js: worker and inline routes of the same CPU work,
// /health, and an endpoint that runs the same work on plain piscina, all in one process; with
// BENCH_BEFORE, /before-worker, the worker route of that build with a pool of its own.
//   node bench/threads-server.js [threads]
import { availableParallelism } from 'node:os';
import express from 'express';
import { Piscina } from 'piscina';
import { before, library } from './builds.js';
import { serve } from './serve.js';

const { createAsyncApi } = await library();

const threads = Number(process.argv[2] ?? availableParallelism());
const spinModule = new URL('./handlers/spin.js', import.meta.url);
const spin = (ms) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

const app = express();
const tasks = createAsyncApi({ maxTasks: Infinity, threads: { min: threads, max: threads } });
const plain = new Piscina({ filename: spinModule.href, name: 'plain', minThreads: threads, maxThreads: threads });

app.post('/worker', tasks.asyncApi.worker(spinModule));
app.post(
  '/inline',
  tasks.asyncApi((req) => {
    spin(Number(req.query.ms));
    return { finishedAt: Date.now() };
  }),
);
app.get('/health', (_req, res) => res.json({ ok: true }));
// The same tasks on plain piscina: when each finished.
app.get('/plain', async (req, res) => {
  const count = Number(req.query.count);
  const ms = Number(req.query.ms);
  res.json(await Promise.all(Array.from({ length: count }, () => plain.run(ms))));
});
app.use(tasks.router);
const closables = [tasks, plain];
if (before !== undefined) {
  const earlier = (await library(before)).createAsyncApi({ maxTasks: Infinity, threads: { min: threads, max: threads }, statusPath: '/before-status' });
  app.post('/before-worker', earlier.asyncApi.worker(spinModule));
  app.use(earlier.router);
  closables.push(earlier);
}

serve(app, ...closables);

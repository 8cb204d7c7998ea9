// The server side of bench/threads.js: worker and inline routes of the same CPU work,
// /health, and an endpoint that runs the same work on plain piscina, all in one process.
import { availableParallelism } from 'node:os';
import express from 'express';
import { serve } from './serve.js';
import { Piscina } from 'piscina';
import { createAsyncApi } from '../dist/index.js';

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

serve(app, tasks, plain);

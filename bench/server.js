// The server side of bench/core.js, in its own process so it has a core to itself:
//   node bench/server.js <mode> [dir]
// `dir` is the built checkout whose library serves /wrapped (bench/builds.js; default this one).
//   throughput: a plain route answering 202 and the wrapped route side by side, measured in
//     alternating rounds so that all see the same machine; with BENCH_BEFORE, /before, the
//     same route wrapped by that build; /hand-written, an async route written without the
//     library (the reference). Tasks are kept 2 s, so the registries stay the same size
//     however long the run. GET /plain answers the JSON that /kept's task replies, whose
//     monitor the read benchmark reads (/before-kept, that build's).
//   submit, submit-dashboard: /wrapped alone, tasks kept 2 s, with tasks.dashboard() mounted
//     at /admin/tasks in the second; GET /__bench/cpu answers the process's CPU time (µs) and
//     how many tasks ran (bench/page-open.js).
//   heap, heap-dashboard (node --expose-gc): tasks are kept until counted; GET /__bench/heap
//     answers the heap after a full GC, and how many tasks ran (bench/heap.js). The second
//     has tasks.dashboard() mounted.
import { randomUUID } from 'node:crypto';
import express from 'express';
import { before, library } from './builds.js';
import { serve } from './serve.js';

const [mode, dir] = process.argv.slice(2);
if (!['throughput', 'submit', 'submit-dashboard', 'heap', 'heap-dashboard'].includes(mode)) throw new Error(`unknown mode ${mode}`);
const { createAsyncApi } = await library(dir);
const app = express();
const reply = () => ({ ok: true, n: 42 });
const tasks = createAsyncApi({ maxTasks: Infinity, ttl: mode.startsWith('heap') ? 600_000 : 2_000 });
const closables = [tasks];
let finished = 0;

if (mode === 'throughput') {
  app.post('/plain', (_req, res) => {
    res.status(202).json({ status: 'queued' });
  });
  app.get('/plain', (_req, res) => {
    res.json(reply());
  });
}
app.post(
  '/wrapped',
  tasks.asyncApi(() => {
    finished++;
    return reply();
  }),
);

if (mode === 'throughput') {
  const builds = [['', createAsyncApi]];
  if (before !== undefined) {
    const then = await library(before);
    const earlier = then.createAsyncApi({ maxTasks: Infinity, ttl: 2_000, statusPath: '/before-status' });
    app.post('/before', earlier.asyncApi(reply));
    app.use(earlier.router);
    closables.push(earlier);
    builds.push(['/before', then.createAsyncApi]);
  }

  // What one would write instead of the library: a Map of tasks, a random id, a 202 with
  // its Location; the handler runs on a later turn and its value is kept 2 s.
  const handWritten = new Map();
  app.post('/hand-written', (_req, res) => {
    const id = randomUUID();
    const task = { status: 'queued', value: undefined };
    handWritten.set(id, task);
    setImmediate(() => {
      task.value = reply();
      task.status = 'succeeded';
      setTimeout(() => handWritten.delete(id), 2_000);
    });
    res.status(202).location(`/hand-written/${id}`).json({ id, status: 'queued' });
  });
  app.get('/hand-written/:id', (req, res) => {
    const task = handWritten.get(req.params.id);
    if (task === undefined) res.sendStatus(404);
    else res.status(task.status === 'queued' ? 202 : 200).json(task.value ?? { status: task.status });
  });

  // The task whose monitor the read benchmark reads, kept for the whole run, one per build.
  for (const [prefix, create] of builds) {
    const kept = create({ ttl: 600_000, statusPath: `${prefix}/kept` });
    app.post(`${prefix}/kept`, kept.asyncApi(reply));
    app.use(kept.router);
    closables.push(kept);
  }
}

app.use(tasks.router);
if (mode.endsWith('-dashboard')) app.use('/admin/tasks', tasks.dashboard());

if (mode.startsWith('heap')) {
  app.get('/__bench/heap', (_req, res) => {
    globalThis.gc();
    globalThis.gc();
    res.json({ heapUsed: process.memoryUsage().heapUsed, finished });
  });
}
if (mode.startsWith('submit')) {
  // CPU per submit, which the machine's other load disturbs less than the rate does.
  app.get('/__bench/cpu', (_req, res) => {
    const { user, system } = process.cpuUsage();
    res.json({ cpu: user + system, submitted: finished });
  });
}

serve(app, ...closables);

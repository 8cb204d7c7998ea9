// The server side of bench/core.js, in its own process so it has a core to itself.
//   node bench/server.js throughput: plain and wrapped routes side by side, measured in
//     alternating rounds so both see the same machine; tasks are kept 2 s, so the
//     registry stays the same size however long the run.
//   node --expose-gc bench/server.js heap: tasks are kept until counted.
//   node --expose-gc bench/server.js heap-dashboard: the same, with a dashboard mounted.
import express from 'express';
import { serve } from './serve.js';
import { createAsyncApi } from '../dist/index.js';

const mode = process.argv[2];
const app = express();
const tasks = createAsyncApi({ maxTasks: Infinity, ttl: mode.startsWith('heap') ? 600_000 : 2_000 });
// The task whose monitor the read benchmark reads, kept for the whole run.
const kept = createAsyncApi({ ttl: 600_000, statusPath: '/kept' });
let finished = 0;

app.post('/plain', (_req, res) => {
  res.status(202).json({ status: 'queued' });
});
app.post(
  '/wrapped',
  tasks.asyncApi(() => {
    finished++;
    return { ok: true, n: 42 };
  }),
);
app.get('/plain', (_req, res) => {
  res.json({ ok: true, n: 42 });
});
app.post(
  '/kept',
  kept.asyncApi(() => ({ ok: true, n: 42 })),
);
app.use(tasks.router);
app.use(kept.router);
if (mode === 'heap-dashboard') app.use('/admin/tasks', tasks.dashboard());

app.get('/__bench/heap', (_req, res) => {
  globalThis.gc?.();
  globalThis.gc?.();
  res.json({ heapUsed: process.memoryUsage().heapUsed, finished });
});

serve(app, tasks, kept);

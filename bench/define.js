// Tasks submitted from code (issue: tasks from code), tasks/s next to their anchors, in
// alternating rounds of the same run:
//   npm run bench:define        (Redis at REDIS_URL, 127.0.0.1:6379 by default)
// 1. memory: `tasks.define(name, module)` on a one-thread pool, `submit()` then
//    `handle.result()` of each, against plain `piscina.run` of the same function on one thread.
// 2. BullMQ: the same definition with `bullmqBackend()` and one worker process (concurrency 1),
//    against plain BullMQ: `Queue.add` and a `Worker` (concurrency 1) in a process of its own,
//    each job awaited (`job.waitUntilFinished`).
// Each task is 2 ms of CPU (bench/handlers/spin.js); TASKS of them per round, all submitted at once.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { Piscina } from 'piscina';
import { createAsyncApi } from '../dist/index.js';
import { bullmqBackend } from '../dist/bullmq.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const count = Number(process.env.TASKS ?? 500);
const ms = 2;
const spin = new URL('./handlers/spin.js', import.meta.url);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rate = async (run) => {
  const started = performance.now();
  await run();
  return (count * 1000) / (performance.now() - started);
};

async function alternate(ours, anchor) {
  const rows = { ours: [], anchor: [], ratio: [] };
  await ours(); // warm-up of both
  await anchor();
  for (let round = 0; round < rounds; round++) {
    const a = await rate(ours);
    const b = await rate(anchor);
    rows.ours.push(a);
    rows.anchor.push(b);
    rows.ratio.push(a / b);
  }
  return { ours: median(rows.ours), anchor: median(rows.anchor), ratio: median(rows.ratio) };
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');

// 1. memory
const tasks = createAsyncApi({ threads: { min: 1, max: 1 }, maxTasks: Infinity, ttl: 1_000, onError: () => {} });
const definition = tasks.define('spin', spin, { export: 'call' });
const pool = new Piscina({ filename: spin.href, name: 'call', minThreads: 1, maxThreads: 1 });
const memory = await alternate(
  async () => {
    const handles = await Promise.all(Array.from({ length: count }, () => definition.submit({ ms })));
    await Promise.all(handles.map((handle) => handle.result()));
  },
  () => Promise.all(Array.from({ length: count }, () => pool.run({ ms }))),
);
await tasks.close();
await pool.destroy();

// 2. BullMQ
const queue = `bench-define-${randomUUID().slice(0, 8)}`;
const start = async (kind, name) => {
  const child = fork(fileURLToPath(new URL('./define-worker.js', import.meta.url)), [name, kind]);
  await once(child, 'message');
  return async () => {
    child.send('exit');
    await once(child, 'exit');
  };
};
const ours = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue, workerCheckInterval: 0 }), maxTasks: Infinity, ttl: 10_000, onError: () => {} });
const remote = ours.define('spin', spin, { export: 'call' });
const stopOurs = await start('ours', queue);
const rawName = `${queue}-raw`;
const url = new URL(redisUrl);
const connection = { host: url.hostname, port: Number(url.port || 6379) };
const raw = new Queue(rawName, { connection });
const rawEvents = new QueueEvents(rawName, { connection });
await rawEvents.waitUntilReady();
// Each waitUntilFinished listens for the events' end: as many at once as jobs in a round.
rawEvents.setMaxListeners(count + 10);
const stopRaw = await start('raw', rawName);
const bullmq = await alternate(
  async () => {
    const handles = await Promise.all(Array.from({ length: count }, () => remote.submit({ ms })));
    await Promise.all(handles.map((handle) => handle.result()));
  },
  async () => {
    const jobs = await Promise.all(Array.from({ length: count }, () => raw.add('spin', { ms }, { removeOnComplete: { count: 10_000 } })));
    await Promise.all(jobs.map((job) => job.waitUntilFinished(rawEvents)));
  },
);
await stopOurs();
await stopRaw();
await ours.close();
await rawEvents.close();
await raw.obliterate({ force: true }).catch(() => {});
await raw.close();

console.log(`node ${process.version}; ${rounds} alternating rounds of ${count} tasks of ${ms} ms CPU, all submitted at once\n`);
console.log('| tasks from code, tasks/s | express-async-api | anchor | ratio (median of rounds) | target |');
console.log('|---|---:|---:|---:|---|');
console.log(`| memory: define(module) on one thread, submit + result() vs plain piscina.run | ${fmt(memory.ours)} | ${fmt(memory.anchor)} | ${memory.ratio.toFixed(2)}× | ≥ 0.9× |`);
console.log(`| BullMQ: define(module), one worker process vs Queue.add + Worker + waitUntilFinished | ${fmt(bullmq.ours)} | ${fmt(bullmq.anchor)} | ${bullmq.ratio.toFixed(2)}× | ≥ 0.8× |`);

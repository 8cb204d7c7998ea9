// Scale-out (issue: BullMQ), as Markdown tables:
//   npm run bench:scale-out      (needs Redis at REDIS_URL, 127.0.0.1:6379 by default)
// 1. Submit throughput over HTTP of the same worker route, BullMQ mode vs memory mode,
//    in one server process, alternating rounds (one worker process runs the BullMQ tasks).
// 2. End-to-end latency of a trivial task: a POST with Prefer: wait until the task's own
//    answer, in BullMQ mode; and, for reference, raw BullMQ add → completed. The POSTs go
//    through Node's http client on a keep-alive connection (fetch costs about 0.6 ms more
//    per request here, which is the client's, not the server's).
import { fork } from 'node:child_process';
import { Agent, request } from 'node:http';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { client, compare } from './load.js';

const redis = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const rounds = Number(process.env.BENCH_ROUNDS ?? 8);
const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const samples = 500;
const queue = `bench-${randomUUID().slice(0, 8)}`;

function percentiles(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: sorted[Math.floor(sorted.length / 2)], p99: sorted[Math.floor(sorted.length * 0.99)] };
}

async function child(script, args) {
  const process = fork(fileURLToPath(new URL(script, import.meta.url)), args);
  const [message] = await once(process, 'message');
  return {
    message,
    async stop() {
      process.send('exit');
      await once(process, 'exit');
    },
  };
}

async function deleteKeys(patterns) {
  const client = new Redis(redis);
  for (const pattern of patterns) {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await client.del(...keys);
    } while (cursor !== '0');
  }
  client.disconnect();
}

// Raw BullMQ on this machine: add → completed, as its events report it.
async function rawBullmq() {
  const name = `${queue}-raw`;
  const connection = { host: new URL(redis).hostname, port: Number(new URL(redis).port || 6379) };
  const tasks = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  const worker = new Worker(name, async () => ({ ok: true }), { connection: { ...connection, maxRetriesPerRequest: null } });
  await Promise.all([events.waitUntilReady(), worker.waitUntilReady()]);
  const latencies = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    // Kept a while: waitUntilFinished reads the job once it has finished.
    const job = await tasks.add('raw', {}, { removeOnComplete: { count: 1000 } });
    await job.waitUntilFinished(events);
    latencies.push(performance.now() - start);
  }
  await Promise.all([worker.close(), events.close(), tasks.close()]);
  await deleteKeys([`bull:${name}:*`]);
  return percentiles(latencies);
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

// A POST with Prefer: wait=30, resolved with its status once its body has arrived.
function post(url) {
  return new Promise((resolve, reject) => {
    const sent = request(url, { method: 'POST', agent, headers: { Prefer: 'wait=30', 'Content-Length': 0 } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    sent.on('error', reject);
    sent.end();
  });
}

const server = await child('./scale-out-server.js', [queue]);
const worker = await child('./scale-out-worker.js', [queue]);
const base = `http://127.0.0.1:${server.message.port}`;
let submit;
let endToEnd;
try {
  submit = await compare(`${base}/memory`, `${base}/bullmq`, { rounds, seconds, method: 'POST' });
  // Let the worker drain what the rounds queued, then time tasks one by one.
  for (let polls = 0; polls < 600; polls++) {
    const response = await fetch(`${base}/bullmq`, { method: 'POST', headers: { Prefer: 'wait=1' } });
    await response.arrayBuffer();
    if (response.status === 200) break;
  }
  const latencies = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    const status = await post(`${base}/bullmq`);
    if (status !== 200) throw new Error(`a task answered ${status}`);
    latencies.push(performance.now() - start);
  }
  endToEnd = percentiles(latencies);
  agent.destroy();
} finally {
  await worker.stop();
  await server.stop();
  await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
}
const raw = await rawBullmq();

const ms = (n) => `${n.toFixed(1)} ms`;
console.log(`\nnode ${process.version}, ${client}, ${rounds} alternating rounds of ${seconds} s, 32 connections; Redis at ${redis}\n`);
console.log('| submit over HTTP, the same worker route | memory mode | BullMQ mode | ratio (median of rounds) | target |');
console.log('|---|---:|---:|---:|---|');
console.log(`| req/s | ${submit.a.toFixed(0)} | ${submit.b.toFixed(0)} | ${submit.ratio.toFixed(2)}× | ≥ 0.8× |`);
console.log(`\n| end-to-end latency of a trivial task (${samples}, one at a time) | p50 | p99 | target |`);
console.log('|---|---:|---:|---|');
console.log(`| BullMQ mode: POST with Prefer: wait until its answer | ${ms(endToEnd.p50)} | ${ms(endToEnd.p99)} | p50 ≤ 2× raw, p99 ≤ 3× raw |`);
console.log(`| ratio to raw BullMQ | ${(endToEnd.p50 / raw.p50).toFixed(1)}× | ${(endToEnd.p99 / raw.p99).toFixed(1)}× | |`);
console.log(`| raw BullMQ: add → completed (reference) | ${ms(raw.p50)} | ${ms(raw.p99)} | |`);

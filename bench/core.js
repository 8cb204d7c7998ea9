// Benchmarks of the foundation (issue: the library), printed as Markdown tables:
//   npm run bench              (BENCH_ROUNDS, BENCH_SECONDS to change the rounds)
// 1. submit: a wrapped route vs a plain Express route answering 202, same server process
// 2. monitor: reading a finished task vs a plain GET answering the same JSON
// 3. heap bytes per finished task with a small JSON result
// 4. janitor: a sweep with nothing expired, and a full purge with the event loop's longest stall
// 5. metrics and traces: submit with asyncApiMetrics() and an OpenTelemetry SDK (spans dropped
//    by its exporter) vs neither, same process; and, with BENCH_BEFORE=<a built checkout of the
//    release before them>, submit where prom-client and @opentelemetry/api are not installed vs
//    that release, same process. BENCH_ONLY=observe runs these alone.
import { execFile, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { client, compare, send } from './load.js';

const run = promisify(execFile);

const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);

async function startServer(mode, script = './server.js', execArgv = mode === 'heap' ? ['--expose-gc'] : []) {
  const server = fork(fileURLToPath(new URL(script, import.meta.url)), [mode], { execArgv });
  const [{ port }] = await once(server, 'message');
  const stop = async () => {
    server.send('exit');
    await once(server, 'exit');
  };
  return { base: `http://127.0.0.1:${port}`, stop };
}

// Heap bytes per finished task: the heap after 100000 tasks finished, less the heap before.
async function heap() {
  const { base, stop } = await startServer('heap');
  const measure = async () => (await fetch(`${base}/__bench/heap`)).json();
  try {
    const before = await measure();
    const count = 100_000;
    await send(`${base}/wrapped`, { method: 'POST', count });
    for (let polls = 0; (await measure()).finished < count; polls++) {
      if (polls > 1_000) throw new Error('the tasks did not finish');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const after = await measure();
    return (after.heapUsed - before.heapUsed) / count;
  } finally {
    await stop();
  }
}

async function throughput() {
  const { base, stop } = await startServer('throughput');
  try {
    const submit = await compare(`${base}/plain`, `${base}/wrapped`, { rounds, seconds, method: 'POST' });
    const accepted = await fetch(`${base}/kept`, { method: 'POST' });
    const monitor = base + accepted.headers.get('location');
    for (let polls = 0; (await fetch(monitor)).status === 202; polls++) {
      if (polls > 1_000) throw new Error('the task did not finish');
    }
    const read = await compare(`${base}/plain`, monitor, { rounds, seconds, method: 'GET' });
    return { submit, read };
  } finally {
    await stop();
  }
}

// The janitor at one size, in a fresh process so no other heap's garbage is collected meanwhile.
async function janitor(count) {
  const { stdout } = await run(process.execPath, ['--expose-gc', fileURLToPath(new URL('./janitor.js', import.meta.url)), String(count)]);
  return JSON.parse(stdout);
}

async function observedSubmit() {
  const { base, stop } = await startServer('observed', './observe-server.js');
  try {
    return await compare(`${base}/neither`, `${base}/observed`, { rounds, seconds, method: 'POST' });
  } finally {
    await stop();
  }
}

async function absentSubmit() {
  if (process.env.BENCH_BEFORE === undefined) return undefined;
  const hide = fileURLToPath(new URL('./hide-peers.cjs', import.meta.url));
  const { base, stop } = await startServer('absent', './observe-server.js', ['--require', hide]);
  try {
    return await compare(`${base}/before`, `${base}/wrapped`, { rounds, seconds, method: 'POST' });
  } finally {
    await stop();
  }
}

const only = process.env.BENCH_ONLY === 'observe';
const heapPerTask = only ? undefined : await heap();
const { submit, read } = only ? {} : await throughput();
const observed = await observedSubmit();
const absent = await absentSubmit();
const janitors = only ? [] : [await janitor(100_000), await janitor(1_000_000)];

const fmt = (n) => Math.round(n).toLocaleString('en-US');
console.log(`\nnode ${process.version}, ${client}, ${rounds} alternating rounds of ${seconds} s, 32 connections; tasks kept 2 s\n`);
if (!only) {
  console.log('| measure | plain Express | express-async-api | ratio (median of rounds) | target |');
  console.log('|---|---:|---:|---:|---|');
  console.log(`| submit, req/s | ${fmt(submit.a)} | ${fmt(submit.b)} | ${submit.ratio.toFixed(2)}× | ≥ 0.92× |`);
  console.log(`| monitor read of a finished task, req/s | ${fmt(read.a)} | ${fmt(read.b)} | ${read.ratio.toFixed(2)}× | |`);
}
console.log('\n| submit, req/s | without | with | ratio (median of rounds) | target |');
console.log('|---|---:|---:|---:|---|');
console.log(`| metrics and tracing (an SDK, spans dropped) vs neither, same process | ${fmt(observed.a)} | ${fmt(observed.b)} | ${observed.ratio.toFixed(2)}× | ≥ 0.9× |`);
if (absent !== undefined) {
  console.log(`| prom-client and @opentelemetry/api not installed: this build vs the release before (${process.env.BENCH_BEFORE}) | ${fmt(absent.a)} | ${fmt(absent.b)} | ${absent.ratio.toFixed(2)}× | ≥ 0.98× |`);
}
if (only) process.exit(0);
console.log('\n| measure | value | target |');
console.log('|---|---:|---|');
console.log(`| heap per finished task (small JSON result) | ${fmt(heapPerTask)} B | ≤ 500 B |`);
for (const [i, size] of [100_000, 1_000_000].entries()) {
  const j = janitors[i];
  console.log(`| sweep with nothing expired, ${fmt(size)} held | ${(j.idleSweepNs / 1000).toFixed(2)} µs | O(1) |`);
  console.log(`| full purge of ${fmt(size)}: total, longest event-loop stall | ${fmt(j.purge)} ms, ${j.stall.toFixed(1)} ms | stall ≤ 20 ms |`);
}

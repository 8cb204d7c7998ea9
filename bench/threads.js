// Benchmarks of the worker-thread pool (issue: worker threads), as Markdown tables:
//   npm run bench:threads
// 1. 5 ms CPU tasks: tasks per second through the library (HTTP submit, worker thread,
//    replay) vs plain piscina.run with the same threads, in the same server process.
// 2. 200 ms CPU tasks arriving at 4/s: p99 latency of GET /health on the same server,
//    worker mode vs inline mode.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { median } from './load.js';

const cores = availableParallelism();
// One core is left to the server's event loop and to this client, so neither takes CPU
// from the pool during the throughput rounds.
const poolThreads = Math.max(1, cores - 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function startServer(threads) {
  const server = fork(fileURLToPath(new URL('./threads-server.js', import.meta.url)), [String(threads)]);
  const [{ port }] = await once(server, 'message');
  return {
    base: `http://127.0.0.1:${port}`,
    async stop() {
      server.send('exit');
      await once(server, 'exit');
    },
  };
}

async function finishedAtOf(location, base) {
  for (let polls = 0; polls < 10_000; polls++) {
    const response = await fetch(base + location);
    if (response.status !== 202) return (await response.json()).finishedAt;
    await sleep(100);
  }
  throw new Error(`${location} did not finish`);
}

// Tasks per second once the pool is busy: the rate at which tasks finished after the
// first quarter of them, so that neither submitting them (HTTP, on the same machine) nor
// the pool's start counts. Both paths are measured this way.
function steadyRate(finishedTimes) {
  const times = [...finishedTimes].sort((a, b) => a - b);
  const first = Math.floor(times.length / 4);
  return (times.length - 1 - first) / ((times.at(-1) - times[first]) / 1000);
}

// `count` tasks of `ms` through the library: submitted over HTTP, run on the pool,
// their ends read back from their replies.
async function throughLibrary(base, count, ms) {
  const locations = [];
  for (let sent = 0; sent < count; sent += 16) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(16, count - sent) }, () => fetch(`${base}/worker?ms=${ms}`, { method: 'POST' })),
    );
    for (const response of batch) {
      if (response.status !== 202) throw new Error(`submit answered ${response.status}`);
      locations.push(response.headers.get('location'));
    }
  }
  // The pool runs them in order: when the last is done, the others are.
  await finishedAtOf(locations.at(-1), base);
  const ends = [];
  for (const location of locations) ends.push(await finishedAtOf(location, base));
  return steadyRate(ends);
}

async function throughPiscina(base, count, ms) {
  return steadyRate(await (await fetch(`${base}/plain?count=${count}&ms=${ms}`)).json());
}

async function throughput() {
  const { base, stop } = await startServer(poolThreads);
  try {
    const count = 400 * poolThreads;
    await throughPiscina(base, 40, 5);
    await throughLibrary(base, 40, 5);
    const library = [];
    const plain = [];
    for (let round = 0; round < rounds; round++) {
      plain.push(await throughPiscina(base, count, 5));
      library.push(await throughLibrary(base, count, 5));
    }
    return { library: median(library), plain: median(plain), ratios: library.map((l, i) => l / plain[i]) };
  } finally {
    await stop();
  }
}

// GET /health every 10 ms for `seconds`, while a 200 ms task arrives every 250 ms on `route`.
async function healthUnderLoad(base, route, seconds) {
  const latencies = [];
  const until = Date.now() + seconds * 1000;
  const submitter = (async () => {
    const locations = [];
    while (Date.now() < until) {
      const response = await fetch(`${base}/${route}?ms=200`, { method: 'POST' });
      locations.push(response.headers.get('location'));
      await sleep(250);
    }
    for (const location of locations) await finishedAtOf(location, base);
  })();
  while (Date.now() < until) {
    const start = performance.now();
    await (await fetch(`${base}/health`)).json();
    latencies.push(performance.now() - start);
    await sleep(10);
  }
  await submitter;
  latencies.sort((a, b) => a - b);
  return { p50: latencies[Math.floor(latencies.length * 0.5)], p99: latencies[Math.floor(latencies.length * 0.99)], samples: latencies.length };
}

async function health() {
  const { base, stop } = await startServer(cores);
  try {
    await healthUnderLoad(base, 'worker', 2);
    return { worker: await healthUnderLoad(base, 'worker', 15), inline: await healthUnderLoad(base, 'inline', 15) };
  } finally {
    await stop();
  }
}

const tasksPerSecond = await throughput();
const latency = await health();
const ratio = median(tasksPerSecond.ratios);
const ms = (n) => `${n.toFixed(1)} ms`;
console.log(`\nnode ${process.version}, ${cores} cores\n`);
console.log(`| 5 ms CPU tasks, ${poolThreads} thread(s), ${rounds} alternating rounds, rate after the first quarter | plain piscina.run | express-async-api | ratio (median of rounds) | target |`);
console.log('|---|---:|---:|---:|---|');
console.log(`| tasks/s | ${tasksPerSecond.plain.toFixed(0)} | ${tasksPerSecond.library.toFixed(0)} | ${ratio.toFixed(2)}× | ≥ 0.9× |`);
console.log(`\n| GET /health while 200 ms CPU tasks arrive at 4/s (15 s, ${cores} threads) | p50 | p99 | target |`);
console.log('|---|---:|---:|---|');
console.log(`| worker mode (asyncApi.worker) | ${ms(latency.worker.p50)} | ${ms(latency.worker.p99)} | p99 ≤ 10 ms |`);
console.log(`| inline mode (asyncApi) | ${ms(latency.inline.p50)} | ${ms(latency.inline.p99)} | |`);

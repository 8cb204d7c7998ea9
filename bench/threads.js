// Benchmarks of the worker-thread pool (issue: worker threads), as Markdown tables:
//   npm run bench:threads                 (BENCH_ROUNDS to change the rounds, 5)
//   BENCH_BEFORE=<dir> npm run bench:threads   (the release before too: bench/builds.js)
// 1. 5 ms CPU tasks: tasks per second through the library (HTTP submit, worker thread,
//    replay) vs plain piscina.run with the same threads, in the same server process; with
//    BENCH_BEFORE, that build's worker route beside them (a pool of its own), in the same rounds.
// 2. 200 ms CPU tasks arriving at 4/s: p99 latency of GET /health on the same server,
//    worker mode vs inline mode.
import { availableParallelism } from 'node:os';
import { before, nameOf } from './builds.js';
import { startServer } from './fork.js';
import { median } from './load.js';

const cores = availableParallelism();
// One core is left to the server's event loop and to this client, so neither takes CPU
// from the pool during the throughput rounds.
const poolThreads = Math.max(1, cores - 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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
async function throughLibrary(base, count, ms, route = 'worker') {
  const locations = [];
  for (let sent = 0; sent < count; sent += 16) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(16, count - sent) }, () => fetch(`${base}/${route}?ms=${ms}`, { method: 'POST' })),
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

// Each round runs every way once, starting one further on each round, so that none always
// runs first; the ratio is the median of the rounds' library/plain.
async function throughput() {
  const { base, stop } = await startServer('./threads-server.js', [String(poolThreads)]);
  try {
    const count = 400 * poolThreads;
    const ways = [
      ['plain', (n) => throughPiscina(base, n, 5)],
      ['library', (n) => throughLibrary(base, n, 5)],
      ...(before === undefined ? [] : [['before', (n) => throughLibrary(base, n, 5, 'before-worker')]]),
    ];
    for (const [, way] of ways) await way(40);
    const rates = Object.fromEntries(ways.map(([name]) => [name, []]));
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < ways.length; i++) {
        const [name, way] = ways[(round + i) % ways.length];
        rates[name].push(await way(count));
      }
    }
    const against = (name) => {
      if (rates[name] === undefined) return undefined;
      const ratios = rates[name].map((rate, i) => rate / rates.plain[i]);
      return { rate: median(rates[name]), ratio: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios) };
    };
    return { plain: median(rates.plain), library: against('library'), before: against('before') };
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
  const { base, stop } = await startServer('./threads-server.js', [String(cores)]);
  try {
    await healthUnderLoad(base, 'worker', 2);
    return { worker: await healthUnderLoad(base, 'worker', 15), inline: await healthUnderLoad(base, 'inline', 15) };
  } finally {
    await stop();
  }
}

const tasksPerSecond = await throughput();
const latency = await health();
const ms = (n) => `${n.toFixed(1)} ms`;
const verdict = (ok) => (ok ? 'met' : '**not met**');
const { plain, library, before: earlier } = tasksPerSecond;
const ratio = (r) => `${r.ratio.toFixed(2)}× (rounds: ${r.low.toFixed(2)}× to ${r.high.toFixed(2)}×)`;
console.log(`\nnode ${process.version}, ${cores} cores, ${new Date().toISOString().slice(0, 10)}\n`);
console.log(`| 5 ms CPU tasks, ${poolThreads} thread(s), ${rounds} alternating rounds, rate after the first quarter, tasks/s | plain piscina.run | express-async-api | ratio (median of rounds) | target |`);
console.log('|---|---:|---:|---:|---|');
console.log(`| this build | ${plain.toFixed(0)} | ${library.rate.toFixed(0)} | ${ratio(library)} | ≥ 0.97× (${verdict(library.ratio >= 0.97)}) |`);
if (earlier) console.log(`| the release before (${nameOf(before)}) | ${plain.toFixed(0)} | ${earlier.rate.toFixed(0)} | ${ratio(earlier)} | |`);
else console.log('| the release before | | | not run: set BENCH_BEFORE | |');
console.log(`\n| GET /health while 200 ms CPU tasks arrive at 4/s (15 s, ${cores} threads) | p50 | p99 | target |`);
console.log('|---|---:|---:|---|');
console.log(`| worker mode (asyncApi.worker) | ${ms(latency.worker.p50)} | ${ms(latency.worker.p99)} | p99 ≤ 10 ms |`);
console.log(`| inline mode (asyncApi) | ${ms(latency.inline.p50)} | ${ms(latency.inline.p99)} | |`);

// The janitor at one size, in a process of its own (bench/core.js runs it per size and build):
//   node --expose-gc bench/janitor.js <count> [dir] [dashboard]
// `dir` is the built checkout whose MemoryStore is measured (bench/builds.js; default this
// one). The tasks are what a submit of POST /wrapped leaves: a route, a method, a URL, a small
// JSON reply. With `dashboard`, a list() runs before the tasks come, as a dashboard's first
// page would (a build that keeps the dashboard's indexes from then on has them to fill and
// clear; one that keeps them always, the same).
// Prints JSON: the median time of a sweep with nothing expired, and the time of a full purge
// with the longest turn of the event loop while it runs.
import { library } from './builds.js';
import { median } from './load.js';

const [count, dir, dashboard] = [Number(process.argv[2]), process.argv[3], process.argv[4] === 'dashboard'];
if (!(count > 0)) throw new Error('usage: node --expose-gc bench/janitor.js <count> [dir] [dashboard]');
const { MemoryStore } = await library(dir);
const reply = { status: 200, headers: ['content-type', 'application/json; charset=utf-8'], body: '{"ok":true,"n":42}' };

// Created in order, five a millisecond (as a busy server's submits), all finished at `finishedAt`.
async function filledStore(finishedAt) {
  const store = new MemoryStore({ ttl: 60_000, maxTasks: Infinity });
  // (Before the tasks: with them, the build of the indexes would yield to the event loop,
  // and the janitor's timer would begin the purge before it is timed.)
  if (dashboard) await store.list({ limit: 50 });
  for (let i = 0; i < count; i++) {
    const id = crypto.randomUUID();
    const createdAt = finishedAt - Math.ceil((count - i) / 5);
    await store.create({ id, owner: undefined, createdAt, route: 'POST /wrapped', method: 'POST', url: '/wrapped' });
    await store.start(id, finishedAt);
    await store.finish(id, { status: 'succeeded', reply }, finishedAt);
  }
  return store;
}

// A sweep when nothing has expired: the median of many, with `count` tasks held.
let store = await filledStore(Date.now());
const samples = [];
for (let i = 0; i < 1_001; i++) {
  const start = process.hrtime.bigint();
  store.sweep();
  samples.push(Number(process.hrtime.bigint() - start));
}
await store.close();
store = undefined;

// A full purge: every task expired. The janitor removes them slice by slice; a chain of
// setImmediate measures each turn of the event loop meanwhile.
store = await filledStore(Date.now() - 120_000);
globalThis.gc();
const start = performance.now();
let longest = 0;
let last = start;
store.sweep();
for (let turns = 0; store.size > 0; turns++) {
  if (turns > 10_000_000) throw new Error('the purge did not end');
  await new Promise((resolve) => setImmediate(resolve));
  const now = performance.now();
  longest = Math.max(longest, now - last);
  last = now;
}
const purge = performance.now() - start;
await store.close();
console.log(JSON.stringify({ idleSweepNs: median(samples), purge, stall: longest }));

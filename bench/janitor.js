// The janitor at one size, in a process of its own (bench/core.js runs it per size):
//   node --expose-gc bench/janitor.js 1000000
// Prints JSON: the median time of a sweep with nothing expired, and the time of a full
// purge with the longest turn of the event loop while it runs.
import { MemoryStore } from '../dist/index.js';
import { median } from './load.js';

const count = Number(process.argv[2]);
const reply = { status: 200, headers: ['content-type', 'application/json; charset=utf-8'], body: '{"ok":true}' };

async function filledStore(finishedAt) {
  const store = new MemoryStore({ ttl: 60_000, maxTasks: Infinity });
  for (let i = 0; i < count; i++) {
    const id = crypto.randomUUID();
    await store.create({ id, owner: undefined, createdAt: finishedAt });
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

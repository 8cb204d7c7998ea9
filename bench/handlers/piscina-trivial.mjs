// Plain piscina task functions for bench/memory.js, the anchors the library is measured
// against: a trivial task (with or without a MessagePort transferred with it), the heap
// of the thread after a full collection (as test/fixtures/handlers/heap.mjs measures it),
// and a task that blocks its thread until the main thread says so.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

/** The trivial task: answers at once (a port that came with it is left as it is). */
export default function trivial(task) {
  return { n: task?.n ?? 0 };
}

/** The heap of this thread after a full collection. */
export function heap() {
  for (let i = 0; i < 4; i++) gc();
  return { heapUsed: process.memoryUsage().heapUsed };
}

/** Blocks this thread until `flag[0]` is set (and notified), two minutes at most. */
export function blocks({ flag }) {
  Atomics.wait(new Int32Array(flag), 0, 0, 120_000);
  return { released: true };
}

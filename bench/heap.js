// Heap bytes per finished task with a small JSON reply: the heap after `count` tasks of
// bench/server.js's /wrapped finished, less the heap before, in a fresh server process.
// bench/core.js and bench/dashboard.js measure it so; alone:
//   node bench/heap.js [count] [mode] [dir]   mode: heap (no dashboard), heap-dashboard (one
//                                             mounted); dir: a built checkout (bench/builds.js)
import { startServer } from './fork.js';
import { send } from './load.js';

export async function heapPerTask(mode = 'heap', count = 100_000, dir = undefined) {
  const { base, stop } = await startServer('./server.js', dir === undefined ? [mode] : [mode, dir], ['--expose-gc']);
  const measure = async () => (await fetch(`${base}/__bench/heap`)).json();
  try {
    const before = await measure();
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

if (import.meta.url === `file://${process.argv[1]}`) {
  const [count = 100_000, mode = 'heap', dir] = process.argv.slice(2);
  const bytes = await heapPerTask(mode, Number(count), dir);
  console.log(`${Math.round(bytes)} B per finished task`);
}

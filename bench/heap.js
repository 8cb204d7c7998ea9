// Heap bytes per finished task with a small JSON reply (bench/core.js's measure), alone:
//   node bench/heap.js [count] [mode]   mode: heap (no dashboard), heap-dashboard (one mounted)
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { send } from './load.js';

export async function heapPerTask(mode = 'heap', count = 100_000) {
  const server = fork(fileURLToPath(new URL('./server.js', import.meta.url)), [mode], { execArgv: ['--expose-gc'] });
  const [{ port }] = await once(server, 'message');
  const base = `http://127.0.0.1:${port}`;
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
    server.send('exit');
    await once(server, 'exit');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const bytes = await heapPerTask(process.argv[3] ?? 'heap', Number(process.argv[2] ?? 100_000));
  console.log(`${Math.round(bytes)} B per finished task`);
}

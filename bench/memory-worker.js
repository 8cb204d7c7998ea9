// The worker process of bench/memory.js: node bench/memory-worker.js QUEUE. One task at a
// time (one worker thread); it runs the handler modules of test/fixtures/handlers/.
import { fileURLToPath } from 'node:url';
import { startWorker } from '../dist/bullmq.js';

const worker = await startWorker({
  connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  queue: process.argv[2],
  concurrency: 1,
  allow: [fileURLToPath(new URL('../test/fixtures/handlers/', import.meta.url))],
  onError: () => {},
});
process.send('ready');
process.on('message', async (message) => {
  if (message !== 'exit') return;
  await worker.close();
  process.exit(0);
});

// The worker side of bench/scale-out.js: node bench/scale-out-worker.js QUEUE
import { fileURLToPath } from 'node:url';
import { startWorker } from '../dist/bullmq.js';

const worker = await startWorker({
  connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  queue: process.argv[2],
  concurrency: 1,
  allow: [fileURLToPath(new URL('./handlers/', import.meta.url))],
});
process.send('ready');
process.on('message', async (message) => {
  if (message !== 'exit') return;
  await worker.close();
  process.exit(0);
});

// The worker side of bench/define.js: node bench/define-worker.js QUEUE (ours | raw)
//   ours: a worker process of the library (startWorker), concurrency 1;
//   raw:  a plain BullMQ Worker running the same work (bench/handlers/spin.js), concurrency 1.
import { fileURLToPath } from 'node:url';
import { Worker } from 'bullmq';
import { startWorker } from '../dist/bullmq.js';
import { plain } from './handlers/spin.js';

const connection = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const [queue, kind] = process.argv.slice(2);
let close;
if (kind === 'ours') {
  const worker = await startWorker({ connection, queue, concurrency: 1, allow: [fileURLToPath(new URL('./handlers/', import.meta.url))] });
  close = () => worker.close();
} else {
  const url = new URL(connection);
  const worker = new Worker(queue, async (job) => plain(job.data.ms), {
    connection: { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null },
    concurrency: 1,
  });
  await worker.waitUntilReady();
  close = () => worker.close();
}
process.send('ready');
process.on('message', async (message) => {
  if (message !== 'exit') return;
  await close();
  process.exit(0);
});

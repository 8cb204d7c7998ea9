// A worker process: as many as you like, on any machine with this code at the same path.
//   node examples/scale-out/worker.js       (REDIS_URL=redis://… to change)
// The same, from the command line:
//   npx express-async-api worker --queue reports --concurrency 4 --allow examples/scale-out
import { fileURLToPath } from 'node:url';
import { startWorker } from 'express-async-api/bullmq';

const worker = await startWorker({
  connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  queue: 'reports',
  concurrency: 4,
  // Only modules in this directory may run here, whatever a job names.
  allow: [fileURLToPath(new URL('.', import.meta.url))],
});
console.log(`express-async-api scale-out worker process ${process.pid} taking tasks from queue "reports"`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await worker.close();
    process.exit(0);
  });
}

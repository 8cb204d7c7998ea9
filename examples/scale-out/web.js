// A web process: as many as you like, behind any load balancer, each on its own port.
//   node examples/scale-out/web.js          (PORT=3001, REDIS_URL=redis://… to change)
import express from 'express';
import { createAsyncApi } from 'express-async-api';
import { bullmqBackend } from 'express-async-api/bullmq';

const tasks = createAsyncApi({
  backend: bullmqBackend({ connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', queue: 'reports' }),
});
const app = express();
app.use(express.json());
app.post('/reports', tasks.asyncApi.worker(new URL('./report.js', import.meta.url), { timeout: 60_000 }));
app.use(tasks.router);

const server = app.listen(Number(process.env.PORT ?? 3000), () => {
  const url = `http://localhost:${server.address().port}`;
  console.log(`express-async-api scale-out web process ${process.pid} listening on ${url}

Start a report on this process, then poll it on any web process:
  curl -i -X POST '${url}/reports?steps=4'
  curl -i -H 'Prefer: wait=30' ${url}/status/<id>`);
});

process.once('SIGTERM', async () => {
  server.close();
  await tasks.close();
  process.exit(0);
});

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

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, (error) => {
  if (error) return; // Express 5 passes it here as well: told below
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

// A port already taken, or not ours to take: one line, and how to pick another.
server.on('error', (error) => {
  const reason = error.code === 'EADDRINUSE' ? 'is in use' : `cannot be listened on (${error.code ?? error.message})`;
  console.error(`Port ${port} ${reason}: start with another, e.g. PORT=${port + 1} node examples/scale-out/web.js`);
  process.exit(1);
});

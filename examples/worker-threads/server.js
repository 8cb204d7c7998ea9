// CPU-heavy work on a worker-thread pool: the route is a module, not a closure.
//   npm run build && node examples/worker-threads/server.js   (PORT=4000 for another port)
import express from 'express';
import { createAsyncApi } from 'express-async-api';

const app = express();
app.use(express.json());
const tasks = createAsyncApi({ threads: { gracePeriod: 500 } });

app.post('/hash', tasks.asyncApi.worker(new URL('./hash.js', import.meta.url), { timeout: 60_000 }));
// Answers at once even while every thread is hashing.
app.get('/health', (_req, res) => res.json({ ok: true }));
app.use(tasks.router);

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, (error) => {
  if (error) return; // Express 5 passes it here as well: told below
  const url = `http://localhost:${server.address().port}`;
  console.log(`express-async-api worker-threads example listening on ${url}

Hash a text 3 million times on a worker thread (a few seconds; progress as it goes):
  curl -i -X POST ${url}/hash -H 'content-type: application/json' -d '{"text":"hello","rounds":3000000}'
Poll its Location:
  curl -i ${url}/status/<id>
Meanwhile the event loop is free:
  curl ${url}/health
Cancel (the thread is terminated if the loop does not stop within half a second):
  curl -i -X DELETE ${url}/status/<id>`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    server.close();
    await tasks.close();
    process.exit(0);
  });
}

// A port already taken, or not ours to take: one line, and how to pick another.
server.on('error', (error) => {
  const reason = error.code === 'EADDRINUSE' ? 'is in use' : `cannot be listened on (${error.code ?? error.message})`;
  console.error(`Port ${port} ${reason}: start with another, e.g. PORT=${port + 1} node examples/worker-threads/server.js`);
  process.exit(1);
});

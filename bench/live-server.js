// The server side of bench/live.js: a task that sleeps ?ms= and says when it ended.
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { createAsyncApi } from '../dist/index.js';

const app = express();
const tasks = createAsyncApi({ retryAfter: 1 });
app.post(
  '/task',
  tasks.asyncApi(async (req) => {
    await sleep(Number(req.query.ms));
    return { endedAt: performance.timeOrigin + performance.now() };
  }),
);
app.use(tasks.router);

const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', async (message) => {
  if (message !== 'exit') return;
  server.close();
  server.closeAllConnections();
  await tasks.close();
  process.exit(0);
});

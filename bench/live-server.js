// The server side of bench/live.js: a task that sleeps ?ms= and says when it ended.
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { serve } from './serve.js';
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

serve(app, tasks);

// The web side of bench/scale-out.js: the same route in memory mode and in BullMQ mode.
//   node bench/scale-out-server.js QUEUE
import express from 'express';
import { serve } from './serve.js';
import { createAsyncApi } from '../dist/index.js';
import { bullmqBackend } from '../dist/bullmq.js';

const queue = process.argv[2];
const redis = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const trivial = new URL('./handlers/trivial.js', import.meta.url);
const memory = createAsyncApi({ maxTasks: Infinity, ttl: 2_000, statusPath: '/memory-status', threads: { min: 1, max: 1 } });
const distributed = createAsyncApi({ maxTasks: Infinity, ttl: 2_000, backend: bullmqBackend({ connection: redis, queue }) });

const app = express();
app.post('/memory', memory.asyncApi.worker(trivial));
app.post('/bullmq', distributed.asyncApi.worker(trivial));
app.use(memory.router);
app.use(distributed.router);

serve(app, memory, distributed);

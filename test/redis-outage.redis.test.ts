import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createAsyncApi, problemTypes, type AsyncApi } from 'express-async-api';
import { bullmqBackend, startWorker, type TaskWorker } from 'express-async-api/bullmq';
import express, { type Express } from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { untilFinished } from './helpers.js';

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** A Redis server of this test's own, so that stopping it touches nothing else. */
async function startRedis(port: number): Promise<ChildProcess> {
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    redis.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve();
    });
    redis.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
  });
  return redis;
}

async function stopRedis(redis: ChildProcess): Promise<void> {
  if (redis.exitCode !== null || redis.signalCode !== null) return;
  const exited = once(redis, 'exit');
  redis.kill('SIGKILL');
  await exited;
}

describe('when Redis goes away and comes back', () => {
  let redis: ChildProcess;
  let tasks: AsyncApi;
  let worker: TaskWorker;
  afterAll(async () => {
    await worker?.close();
    await tasks?.close();
    await stopRedis(redis);
  });

  it('answers 503 problems with Retry-After meanwhile, registers nothing, and resumes by itself', async () => {
    const port = await freePort();
    const connection = `redis://127.0.0.1:${port}`;
    redis = await startRedis(port);
    // What the worker says of the outage: once that it lost Redis, once that it is back.
    const warnings = vi.spyOn(console, 'warn').mockImplementation(() => {});
    tasks = createAsyncApi({ backend: bullmqBackend({ connection, queue: 'outage' }), retryAfter: 2, onError: () => {} });
    const workerErrors: unknown[] = [];
    worker = await startWorker({ connection, queue: 'outage', allow: [fileURLToPath(new URL('./fixtures/', import.meta.url))], onError: (error) => workerErrors.push(error) });
    const app: Express = express();
    app.use(express.json());
    app.post('/work', tasks.asyncApi.worker(new URL('./fixtures/scale-out/work.mjs', import.meta.url)));
    app.use(tasks.router);

    const before = await request(app).post('/work').send({ n: 1 });
    expect(before.status).toBe(202);
    expect((await untilFinished(request(app), before.headers.location)).body).toMatchObject({ n: 1 });

    await stopRedis(redis);
    const refused = await request(app).post('/work').send({ n: 2 });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('2');
    expect(refused.headers.location).toBeUndefined();
    // No detail: with exposeErrors false, a 5xx problem carries nothing the server wrote (ioredis's reason).
    expect(refused.body).toEqual({ type: problemTypes.storeUnavailable, title: 'Task store unavailable', status: 503 });
    const monitor = await request(app).get(before.headers.location!);
    expect(monitor.status).toBe(503);
    expect(monitor.headers['retry-after']).toBe('2');
    expect(monitor.body).toEqual({ type: problemTypes.storeUnavailable, title: 'Task store unavailable', status: 503, instance: before.headers.location });

    redis = await startRedis(port);
    let after = refused;
    for (let attempt = 0; attempt < 200 && after.status !== 202; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await request(app).post('/work').send({ n: 3 });
    }
    expect(after.status).toBe(202);
    // The worker process is back at work too.
    expect((await untilFinished(request(app), after.headers.location, 20_000)).body).toMatchObject({ n: 3 });
    const said = warnings.mock.calls.map(([line]) => String(line));
    warnings.mockRestore();
    expect(said.filter((line) => /lost its connection to Redis \(.*\); reconnecting$/.test(line))).toHaveLength(1);
    expect(said.filter((line) => /reconnected to Redis$/.test(line))).toHaveLength(1);
    expect(said).toHaveLength(2);
    // Nor is each failed reconnection an error of the worker.
    expect(workerErrors).toEqual([]);
  }, 60_000);
});

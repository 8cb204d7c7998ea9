import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createAsyncApi } from 'express-async-api';
import { bullmqBackend } from 'express-async-api/bullmq';
import express from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { untilFinished } from './helpers.js';
import { deleteKeys, redisUrl, uniqueName } from './redis.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const run = promisify(execFile);

describe('npx express-async-api worker', () => {
  const queue = uniqueName('cli');
  afterAll(() => deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]));

  it('runs the tasks of a queue until SIGTERM', async () => {
    const worker = spawn(process.execPath, [cli, 'worker', '--redis', redisUrl, '--queue', queue, '--concurrency', '2', '--allow', 'test/fixtures'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    await new Promise<void>((resolve) => {
      worker.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('taking tasks')) resolve();
      });
    });
    expect(output).toBe(`express-async-api worker ${worker.pid}: taking tasks from queue "${queue}"\n`);

    const tasks = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue }) });
    const app = express();
    app.use(express.json());
    app.post('/work', tasks.asyncApi.worker(new URL('./fixtures/scale-out/work.mjs', import.meta.url)));
    app.use(tasks.router);
    const submitted = await request(app).post('/work').send({ n: 7 });
    const done = await untilFinished(request(app), submitted.headers.location);
    expect(done.body).toEqual({ n: 7, pid: worker.pid });
    await tasks.close();

    worker.kill('SIGTERM');
    const [code] = await once(worker, 'exit');
    expect(code).toBe(0);
  }, 30_000);

  it('explains itself', async () => {
    const help = await run(process.execPath, [cli, '--help']);
    expect(help.stdout).toMatch(/^Usage: express-async-api worker --queue NAME \[options\]/);
    await expect(run(process.execPath, [cli, 'worker'])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/^Usage:/) });
    await expect(run(process.execPath, [cli, 'worker', '--queue', 'q', '--concurrency', 'many'])).rejects.toMatchObject({
      code: 1,
      stderr: 'express-async-api: --concurrency takes a whole number, got many\n',
    });
  });
});

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startExample } from './helpers.js';
import { redisUrl } from './redis.js';

describe('examples/scale-out', () => {
  it('runs a report submitted on one web process, on a worker process, read on another web process', async () => {
    const worker = spawn(process.execPath, ['examples/scale-out/worker.js'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, REDIS_URL: redisUrl },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const ready = new Promise<void>((resolve) => worker.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('taking tasks') && resolve()));
    const webs = [startExample('examples/scale-out/web.js'), startExample('examples/scale-out/web.js')];
    try {
      await ready;
      const [one, two] = await Promise.all(webs.map((web) => web.url));
      const submitted = await fetch(`${one}/reports?steps=1`, { method: 'POST' });
      expect(submitted.status).toBe(202);
      let answer: Response | undefined;
      for (let polls = 0; polls < 20 && (answer?.status ?? 202) === 202; polls++) {
        answer = await fetch(two! + submitted.headers.get('location')!, { headers: { Prefer: 'wait=5' } });
      }
      expect(answer!.status).toBe(201);
      expect(await answer!.json()).toMatchObject({ steps: 1, worker: worker.pid });
    } finally {
      for (const web of webs) web.child.kill('SIGTERM');
      worker.kill('SIGTERM');
    }
  }, 30_000);
});

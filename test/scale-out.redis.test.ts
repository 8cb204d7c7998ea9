import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeys, redisUrl, startFixture, uniqueName } from './redis.js';

const fixtures = fileURLToPath(new URL('./fixtures/scale-out/', import.meta.url));

const start = (script: string, queue: string, env: Record<string, string> = {}) => startFixture(join(fixtures, script), [queue], env);

/** The final answer of a task's monitor, held with Prefer: wait; bounded. */
async function final(base: string, location: string): Promise<Response> {
  for (let polls = 0; polls < 30; polls++) {
    const response = await fetch(base + location, { headers: { Prefer: 'wait=5' } });
    if (response.status !== 202) return response;
    await response.arrayBuffer();
  }
  throw new Error(`${location} did not finish`);
}

describe('scale-out: 2 web processes and 3 worker processes on one queue', () => {
  const queue = uniqueName('scale');
  const webs: { child: ChildProcess; base: string }[] = [];
  const workers: { child: ChildProcess; pid: number }[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'scale-out-'));

  beforeAll(async () => {
    const started = [start('web.mjs', queue), start('web.mjs', queue)];
    for (const web of started) webs.push({ child: web.child, base: `http://127.0.0.1:${(await web.first).port}` });
    const starting = [1, 2, 3].map(() => start('worker.mjs', queue));
    for (const worker of starting) workers.push({ child: worker.child, pid: (await worker.first).ready! });
  }, 60_000);

  afterAll(async () => {
    const exits = [...webs, ...workers].filter(({ child }) => child.exitCode === null && child.signalCode === null).map(({ child }) => new Promise((resolve) => child.once('exit', resolve)).then(() => child));
    for (const { child } of [...webs, ...workers]) child.kill('SIGTERM');
    await Promise.all(exits);
    rmSync(scratch, { recursive: true, force: true });
    await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
  }, 60_000);

  async function submit(web: number, path: string, body: object): Promise<string> {
    const response = await fetch(`${webs[web]!.base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(response.status).toBe(202);
    return response.headers.get('location')!;
  }

  it('runs 200 tasks submitted round-robin, each read on the other web process', async () => {
    const locations = await Promise.all(Array.from({ length: 200 }, (_, n) => submit(n % 2, '/work', { n, ms: 5 })));
    const answers = await Promise.all(locations.map(async (location, n) => (await (await final(webs[(n + 1) % 2]!.base, location)).json()) as { n: number; pid: number }));
    expect(answers.map((answer) => answer.n)).toEqual(Array.from({ length: 200 }, (_, n) => n));
    const pids = new Set(answers.map((answer) => answer.pid));
    expect([...pids].every((pid) => workers.some((worker) => worker.pid === pid))).toBe(true);
    expect(pids.size).toBeGreaterThan(1);
  }, 60_000);

  it('cancels on one web process a task that another took and a worker process runs', async () => {
    const marker = join(scratch, 'canceled');
    const location = await submit(0, '/waits', { marker });
    for (let polls = 0; polls < 500; polls++) {
      const status = (await (await fetch(webs[1]!.base + location)).json()) as { status: string };
      if (status.status === 'running') break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const canceled = await fetch(webs[1]!.base + location, { method: 'DELETE' });
    expect(((await canceled.json()) as { status: string }).status).toBe('canceled');
    for (let turn = 0; turn < 1_000 && !existsSync(marker); turn++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(readFileSync(marker, 'utf8')).toBe('TaskCanceledError');
    expect((await fetch(webs[0]!.base + location)).status).toBe(409);
  }, 30_000);

  it('finishes every task when a worker process is killed (SIGKILL) while it runs some', async () => {
    const locations = await Promise.all(Array.from({ length: 15 }, (_, n) => submit(n % 2, '/work', { n, ms: 1_500 })));
    const victim = workers[0]!;
    // The tasks the victim is running (each says where it runs), once it runs some.
    let onVictim: string[] = [];
    for (let polls = 0; polls < 500 && onVictim.length === 0; polls++) {
      const statuses = (await Promise.all(locations.map(async (location) => (await fetch(webs[0]!.base + location)).json()))) as { status: string; message?: string }[];
      onVictim = locations.filter((_, n) => statuses[n]!.status === 'running' && statuses[n]!.message === `pid ${victim.pid}`);
      if (onVictim.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(onVictim.length).toBeGreaterThan(0);
    victim.child.kill('SIGKILL');
    const answers = await Promise.all(
      locations.map(async (location) => {
        const response = await final(webs[1]!.base, location);
        expect(response.status).toBe(200);
        return { location, ...((await response.json()) as { n: number; pid: number }) };
      }),
    );
    expect(answers.map((answer) => answer.n)).toEqual(Array.from({ length: 15 }, (_, n) => n));
    // What the victim was running when it died ran again, to the end, on another worker process.
    for (const answer of answers.filter((one) => onVictim.includes(one.location))) expect(answer.pid).not.toBe(victim.pid);
  }, 60_000);
});

describe('scale-out: a task BullMQ gives up on', () => {
  it('fails with a worker-crashed problem when its job stalled more often than BullMQ allows', async () => {
    const queue = uniqueName('stalled');
    const web = start('web.mjs', queue);
    const base = `http://127.0.0.1:${(await web.first).port}`;
    // BullMQ may not let a job stall at all: the first lost worker fails it for good.
    const victim = start('worker.mjs', queue, { MAX_STALLED: '0' });
    const victimPid = (await victim.first).ready!;
    const submitted = await fetch(`${base}/work`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: 1, ms: 60_000 }) });
    const location = submitted.headers.get('location')!;
    for (let polls = 0; polls < 500; polls++) {
      const status = (await (await fetch(base + location)).json()) as { status: string; message?: string };
      if (status.message === `pid ${victimPid}`) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    victim.child.kill('SIGKILL');
    const survivor = start('worker.mjs', queue, { MAX_STALLED: '0' });
    await survivor.first;
    try {
      const answer = await final(base, location);
      expect(answer.status).toBe(500);
      expect(((await answer.json()) as { type: string }).type).toBe('urn:express-async-api:worker-crashed');
    } finally {
      for (const { child } of [web, survivor]) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
    }
  }, 60_000);
});

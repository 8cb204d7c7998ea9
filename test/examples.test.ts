import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startExample, untilDone } from './helpers.js';
import { cleanCheckout, root } from './pack.js';

describe('examples/basic (the demo)', () => {
  it('prints its URL and curl lines, and serves a report through 202 and the monitor', async () => {
    const example = startExample('examples/basic/server.js');
    try {
      const base = await example.url;
      expect(example.output()).toContain(`curl -i -X POST '${base.replace('127.0.0.1', 'localhost')}/reports?steps=5'`);
      const submitted = await fetch(`${base}/reports?steps=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'Q3' }),
      });
      expect(submitted.status).toBe(202);
      const answer = await untilDone(base + submitted.headers.get('location'));
      expect(answer.status).toBe(201);
      expect(await answer.json()).toMatchObject({ rows: 100, title: 'Q3' });

      const invalid = await fetch(`${base}/invalid`, { method: 'POST' });
      const problem = await untilDone(base + invalid.headers.get('location'));
      expect(problem.status).toBe(422);
      expect(problem.headers.get('content-type')).toBe('application/problem+json');

      // The dashboard it prints lists both, the report's route as matched.
      expect(example.output()).toContain(`${base.replace('127.0.0.1', 'localhost')}/admin/tasks/`);
      expect((await fetch(`${base}/admin/tasks/`)).headers.get('content-security-policy')).toMatch(/script-src 'self'/);
      const listed = (await (await fetch(`${base}/admin/tasks/api/tasks`)).json()) as { tasks: { route: string }[] };
      expect(listed.tasks.map((task) => task.route)).toEqual(['POST /invalid', 'POST /reports']);
    } finally {
      example.child.kill('SIGTERM');
    }
  });
});

describe('examples/approval', () => {
  it('waits for an approval sent to its monitor, then refunds once', async () => {
    const example = startExample('examples/approval/server.js');
    try {
      const base = await example.url;
      const submitted = await fetch(`${base}/refunds`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order: 7 }) });
      expect(submitted.status).toBe(202);
      const location = submitted.headers.get('location')!;
      let waiting: { waitingFor?: { href: string } } = {};
      for (let polls = 0; polls < 2_000 && waiting.waitingFor === undefined; polls++) waiting = (await (await fetch(base + location)).json()) as typeof waiting;
      expect(waiting.waitingFor?.href).toBe(`${location}/events/approval`);
      const approved = await fetch(base + waiting.waitingFor!.href, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"approved":true}' });
      expect(approved.status).toBe(202);
      const answer = await untilDone(base + location);
      expect(answer.status).toBe(201);
      expect(await answer.json()).toEqual({ refunded: 42, order: 7 });
      expect(example.output().match(/billing: quote/g)).toHaveLength(1);
      expect(example.output().match(/billing: refund/g)).toHaveLength(1);
    } finally {
      example.child.kill('SIGTERM');
    }
  });
});

describe('examples/worker-threads', () => {
  it('hashes on a worker thread while /health answers, and replays the result', async () => {
    const example = startExample('examples/worker-threads/server.js');
    try {
      const base = await example.url;
      const submitted = await fetch(`${base}/hash`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'abc', rounds: 1000 }),
      });
      expect(submitted.status).toBe(202);
      expect((await fetch(`${base}/health`)).status).toBe(200);
      const answer = await untilDone(base + submitted.headers.get('location'));
      expect(answer.status).toBe(201);
      let digest = Buffer.from('abc');
      for (let round = 0; round < 1000; round++) digest = createHash('sha256').update(digest).digest();
      expect(await answer.json()).toEqual({ rounds: 1000, sha256: digest.toString('hex') });
    } finally {
      example.child.kill('SIGTERM');
    }
  });
});

describe('examples/effects (PostgreSQL)', () => {
  it('logs and mails after the commit, and neither after a rollback', async () => {
    const example = startExample('examples/effects/server.js');
    try {
      const base = await example.url;
      expect((await fetch(`${base}/froggies/1/jump`, { method: 'POST' })).status).toBe(204);
      for (let turn = 0; turn < 1_000 && !example.output().includes('mail to admins: froggy 1 jumped'); turn++) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(example.output()).toContain('froggy 1 jumped\nmail to admins: froggy 1 jumped\n');
      expect((await fetch(`${base}/froggies/99/jump`, { method: 'POST' })).status).toBe(404);
      // A request after it, whose effects come after any the rolled-back one could have had.
      expect((await fetch(`${base}/froggies/2/jump`, { method: 'POST' })).status).toBe(204);
      for (let turn = 0; turn < 1_000 && !example.output().includes('mail to admins: froggy 2 jumped'); turn++) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(example.output()).not.toContain('froggy 99');
    } finally {
      example.child.kill('SIGTERM');
    }
  });
});

describe('every example, on a port already in use', () => {
  it.each([
    ['examples/basic/server.js', 'npm run demo'],
    ['examples/worker-threads/server.js', 'node examples/worker-threads/server.js'],
    ['examples/scale-out/web.js', 'node examples/scale-out/web.js'],
    ['examples/effects/server.js', 'node examples/effects/server.js'],
  ])('%s says so in one line, naming the port and PORT=', async (path, command) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const { port } = taken.address() as { port: number };
    try {
      const child = spawn(process.execPath, [path], { cwd: fileURLToPath(new URL('..', import.meta.url)), env: { ...process.env, PORT: String(port) } });
      let stderr = '';
      let stdout = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect({ code, stdout, stderr }).toEqual({ code: 1, stdout: '', stderr: `Port ${port} is in use: start with another, e.g. PORT=${port + 1} ${command}\n` });
    } finally {
      taken.close();
    }
  });
});

describe('npm run demo, in a clean checkout (as the README\'s Quick start runs it)', () => {
  it('builds, starts and serves a report', { timeout: 120_000 }, async () => {
    const checkout = mkdtempSync(join(root, 'test', '.pack-'));
    cleanCheckout(checkout);
    // Its own process group: npm starts a shell, which starts node.
    const child = spawn('npm', ['run', 'demo'], { cwd: checkout, env: { ...process.env, PORT: '0' }, detached: true });
    try {
      let output = '';
      const base = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const match = /listening on (http:\/\/localhost:\d+)/.exec(output);
          if (match) resolve(match[1]!.replace('localhost', '127.0.0.1'));
        });
        child.once('exit', (code) => reject(new Error(`npm run demo exited with ${code}: ${output}`)));
      });
      const submitted = await fetch(`${base}/reports?steps=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title":"fresh"}' });
      expect(submitted.status).toBe(202);
      const answer = await untilDone(base + submitted.headers.get('location'));
      expect(answer.status).toBe(201);
      expect(await answer.json()).toMatchObject({ title: 'fresh' });
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        process.kill(-child.pid!, 'SIGTERM');
        await exited;
      }
      rmSync(checkout, { recursive: true, force: true });
    }
  });
});

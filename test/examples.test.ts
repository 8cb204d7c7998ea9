import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { startExample, untilDone } from './helpers.js';

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

// Helpers of the tests that need Redis (*.redis.test.ts): a real server at REDIS_URL,
// 127.0.0.1:6379 by default (.ci/run starts one if none answers).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A name no other test run uses, for queues and key prefixes. */
export function uniqueName(what: string): string {
  return `test-${what}-${randomUUID().slice(0, 8)}`;
}

/** Deletes every key that starts with one of `patterns` (as SCAN MATCH patterns). */
export async function deleteKeys(patterns: string[]): Promise<void> {
  const client = new Redis(redisUrl);
  try {
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await client.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    client.disconnect();
  }
}

/**
 * Starts a fixture process (`node script ...args`) with REDIS_URL set, and resolves `first`
 * with the first JSON line it prints.
 */
export function startFixture(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; first: Promise<Record<string, number>> } {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, REDIS_URL: redisUrl, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const first = new Promise<Record<string, number>>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((candidate) => candidate.startsWith('{'));
      if (line) resolve(JSON.parse(line) as Record<string, number>);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { child, first };
}

// Load for the tests that count what many tasks leave behind: many submits over a few
// keep-alive connections, bounded, and the heap a handler module reports of its thread.
import { Agent, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';

/** Listens on 127.0.0.1 at a free port; `close` ends every connection too. */
export async function listen(app: Express): Promise<{ base: string; server: Server; close: () => Promise<void> }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    server,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function post(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = '{"n":1}';
    const sent = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    sent.on('error', reject);
    sent.end(body);
  });
}

/** Submits `count` tasks to `url`, 16 at a time; each must be accepted. */
export async function submitMany(url: string, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        next++;
        const { status } = await post(url);
        if (status !== 202) throw new Error(`a submit to ${url} answered ${status}`);
      }
    }),
  );
}

/**
 * The heap of the thread that runs `url`'s task after a full collection, as the task
 * reports it (fixtures/handlers/heap.mjs). On a one-thread pool or a one-worker queue it
 * runs after every task submitted before it.
 */
export async function heapOfThread(url: string): Promise<number> {
  const { status, body } = await post(url, { prefer: 'wait=120' });
  if (status !== 200) throw new Error(`the heap task answered ${status}: ${body}`);
  return (JSON.parse(body) as { heapUsed: number }).heapUsed;
}

// The server side of bench/memory.js, in a process of its own whose heap is measured:
//   node --expose-gc bench/memory-server.js queued
//     worker routes on a two-thread pool: /wait (runs until canceled), /trivial; and, as
//     the anchor, /plain-trivial: plain Express queueing a copy of the request on a plain
//     piscina pool of two threads, which /__bench/plain-block blocks.
//   node --expose-gc bench/memory-server.js live
//     inline routes: /live (runs until released), /done; and, as the anchor,
//     /plain-live: plain Express answering 202 and keeping its request until released.
// GET /__bench/heap answers the heap after a full collection.
import express from 'express';
import { Piscina } from 'piscina';
import { createAsyncApi } from '../dist/index.js';

const mode = process.argv[2];
const app = express();
app.use(express.json());
const closables = [];

// A promise released on demand, and made anew for the next round.
function gate() {
  let release;
  const promise = new Promise((resolve) => (release = resolve));
  return { promise, release };
}

let plainPool;
if (mode === 'queued') {
  const tasks = createAsyncApi({ threads: { min: 2, max: 2 }, maxTasks: Infinity, ttl: 600_000, maxWait: 120, onError: () => {} });
  app.post('/wait', tasks.asyncApi.worker(new URL('./handlers/waits.js', import.meta.url)));
  app.post('/trivial', tasks.asyncApi.worker(new URL('./handlers/trivial.js', import.meta.url)));
  app.use(tasks.router);
  closables.push(() => tasks.close({ timeout: 1 }));

  plainPool = new Piscina({ filename: new URL('./handlers/piscina-trivial.mjs', import.meta.url).href, minThreads: 2, maxThreads: 2 });
  closables.push(() => plainPool.destroy());
  let flag;
  let blocked = [];
  let submitted = 0;
  const idle = async (done) => {
    for (let polls = 0; plainPool.queueSize > 0 || plainPool.completed < done; polls++) {
      if (polls > 3_000) throw new Error('the plain pool did not get through its tasks');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  // What a thread needs of the request, copied as plain data.
  app.post('/plain-trivial', (req, res) => {
    const task = { method: req.method, url: req.url, headers: { ...req.headers }, query: { ...req.query }, body: req.body };
    submitted++;
    plainPool.run(task).catch(() => {});
    res.status(202).json({ status: 'queued' });
  });
  // Once the tasks so far have run, blocks both threads; answers when both are blocked.
  app.post('/__bench/plain-block', async (_req, res) => {
    await idle(submitted);
    flag = new SharedArrayBuffer(4);
    blocked = [0, 1].map(() => plainPool.run({ flag }, { name: 'blocks' }).catch(() => {}));
    await idle(submitted);
    res.json({ queued: plainPool.queueSize });
  });
  app.post('/__bench/plain-release', async (_req, res) => {
    Atomics.store(new Int32Array(flag), 0, 1);
    Atomics.notify(new Int32Array(flag), 0);
    await Promise.all(blocked);
    await idle(submitted + 2);
    res.json({ queued: plainPool.queueSize });
  });
} else if (mode === 'live') {
  const tasks = createAsyncApi({ maxTasks: Infinity, ttl: 600_000, maxWait: 120, onError: () => {} });
  const gates = { live: gate(), plain: gate() };
  app.post(
    '/live',
    tasks.asyncApi(async () => {
      await gates.live.promise;
      return { ok: true };
    }),
  );
  app.post(
    '/done',
    tasks.asyncApi(() => ({ ok: true })),
  );
  app.post('/plain-live', (req, res) => {
    // Kept until released, as a running inline task keeps it.
    gates.plain.promise.then(() => req.body);
    res.status(202).json({ status: 'queued' });
  });
  app.post('/plain-done', (_req, res) => {
    res.status(202).json({ status: 'queued' });
  });
  app.post('/__bench/release', (req, res) => {
    const name = String(req.query.gate);
    gates[name].release();
    gates[name] = gate();
    res.json({ ok: true });
  });
  app.use(tasks.router);
  closables.push(() => tasks.close({ timeout: 1 }));
} else {
  throw new Error(`usage: node --expose-gc bench/memory-server.js queued|live, not ${mode}`);
}

app.get('/__bench/heap', (_req, res) => {
  for (let i = 0; i < 4; i++) globalThis.gc();
  const { heapUsed, rss } = process.memoryUsage();
  res.json({ heapUsed, rss, plainQueued: plainPool?.queueSize });
});

const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
// The client's keep-alive connections last the whole measurement: none is made anew in it.
server.keepAliveTimeout = 600_000;
process.on('message', async (message) => {
  if (message !== 'exit') return;
  server.close();
  server.closeAllConnections();
  await Promise.all(closables.map((close) => close()));
  process.exit(0);
});

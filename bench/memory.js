// Memory benchmarks (issue: memory), printed as Markdown tables, each value next to its
// anchor measured in the same run:
//   npm run bench:memory      (needs Redis at REDIS_URL, 127.0.0.1:6379 by default;
//                              BENCH_ONLY=1,3 runs only those sections)
// 1. Heap a worker thread keeps per task, after a full collection, over 20,000 trivial
//    tasks after 2,000 of warm-up, on a one-thread pool (test/fixtures/handlers/heap.mjs
//    reports its thread's heap); anchors: plain piscina on one thread running a trivial
//    task, (a) with a new MessagePort transferred per task, (b) without.
// 2. The same for the one thread of a BullMQ worker process (concurrency 1).
// 3. Heap (and RSS) of the server process per queued worker task: 2 threads busy with
//    tasks that run until canceled, 5,000 tasks queued behind them; anchor: plain Express
//    queueing a copy of each request on a plain piscina pool whose 2 threads are blocked.
// 4. Heap of the server process per live inline task: 2,000 running, awaiting a promise;
//    anchor: a plain Express route that answers 202 and keeps its request as long.
// 5. Redis bytes per finished task kept in Redis (BullMQ mode, ttl 10 min), as used_memory
//    growth and as MEMORY USAGE of the queue's keys, with where those bytes are, key by key;
//    anchor: plain BullMQ (Queue.add + Worker, completed jobs kept, BullMQ's default).
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { Queue, Worker } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { Piscina } from 'piscina';
import { createAsyncApi } from '../dist/index.js';
import { bullmqBackend } from '../dist/bullmq.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const only = process.env.BENCH_ONLY?.split(',').map(Number);
const runs = (section) => only === undefined || only.includes(section);
const run = randomUUID().slice(0, 8);
const heapFixture = new URL('../test/fixtures/handlers/heap.mjs', import.meta.url);
const piscinaFixture = new URL('./handlers/piscina-trivial.mjs', import.meta.url).href;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const warmup = 2_000;
const threadTasks = 20_000;
const queuedTasks = 5_000;
const liveTasks = 2_000;
const retainedTasks = 1_000;
const redisWarmup = 10;

// ---- HTTP: many submits over 16 keep-alive connections, as test/load.ts sends them ----

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function send(url, { method = 'POST', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const body = method === 'POST' ? '{"n":1}' : '';
    const sent = request(
      url,
      { method, agent, headers: { ...(body ? { 'content-type': 'application/json', 'content-length': body.length } : {}), ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode, body: text, location: res.headers.location }));
      },
    );
    sent.on('error', reject);
    sent.end(body);
  });
}

/** Submits `count` tasks to `url`, 16 at a time; each must be accepted. Resolves with their monitors, in order. */
async function submitMany(url, count) {
  const locations = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const i = next++;
        const { status, body, location } = await send(url);
        if (status !== 202) throw new Error(`a submit to ${url} answered ${status}: ${body}`);
        locations[i] = location;
      }
    }),
  );
  return locations;
}

/** The heap of the thread that runs `url`'s task (heap.mjs), which runs after every task before it. */
async function heapOfThread(url) {
  const { status, body } = await send(url, { headers: { prefer: 'wait=120' } });
  if (status !== 200) throw new Error(`the heap task answered ${status}: ${body}`);
  return JSON.parse(body).heapUsed;
}

/** Waits until the task at `monitor` has finished; resolves with its last answer. */
async function settled(monitor) {
  for (let polls = 0; polls < 10; polls++) {
    const answer = await send(monitor, { method: 'GET', headers: { prefer: 'wait=60' } });
    if (answer.status !== 202) return answer;
  }
  throw new Error(`${monitor} did not finish`);
}

/** Waits until the task at `monitor` is `status`. */
async function until(monitor, status) {
  for (let polls = 0; polls < 1_000; polls++) {
    const { body } = await send(monitor, { method: 'GET' });
    if (JSON.parse(body).status === status) return;
    await sleep(10);
  }
  throw new Error(`${monitor} did not become ${status}`);
}

async function listen(app) {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  server.keepAliveTimeout = 600_000;
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

function child(script, args, execArgv = []) {
  const process = fork(fileURLToPath(new URL(script, import.meta.url)), args, { execArgv });
  const ready = once(process, 'message').then(([message]) => message);
  return {
    ready,
    async stop() {
      process.send('exit');
      await once(process, 'exit');
    },
  };
}

// ---- Redis ----

async function deleteKeys(patterns) {
  const client = new Redis(redisUrl);
  try {
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await client.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    client.disconnect();
  }
}

async function usedMemory(redis) {
  return Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))[1]);
}

async function scanAll(redis, pattern) {
  const keys = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  return keys;
}

const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Every key matching `patterns`, by kind (the key with its queue and task or job id left out). */
async function inventory(redis, queue, patterns) {
  const keys = (await Promise.all(patterns.map((pattern) => scanAll(redis, pattern)))).flat();
  const kindOf = (key) => key.split(queue).join('<queue>').replace(uuid, '<id>').replace(/:\d+(?=$|:)/g, ':<n>');
  const pipeline = redis.pipeline();
  for (const key of keys) {
    pipeline.type(key);
    pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    pipeline.pttl(key);
  }
  const answers = await pipeline.exec();
  const lengths = redis.pipeline();
  const kinds = new Map();
  keys.forEach((key, i) => {
    const [type, bytes, ttl] = [0, 1, 2].map((j) => answers[3 * i + j][1]);
    const name = kindOf(key);
    let kind = kinds.get(name);
    if (kind === undefined) kinds.set(name, (kind = { name, type, keys: 0, bytes: 0, entries: undefined, expiring: 0 }));
    kind.keys++;
    kind.bytes += Number(bytes ?? 0);
    if (ttl >= 0) kind.expiring++;
    const length = { hash: 'hlen', zset: 'zcard', set: 'scard', list: 'llen', stream: 'xlen' }[type];
    if (length) lengths[length](key);
    else lengths.echo('');
  });
  (await lengths.exec()).forEach(([, length], i) => {
    if (length === '') return;
    const kind = kinds.get(kindOf(keys[i]));
    kind.entries = (kind.entries ?? 0) + Number(length);
  });
  const all = [...kinds.values()].sort((a, b) => b.bytes - a.bytes);
  return { kinds: all, bytes: all.reduce((sum, kind) => sum + kind.bytes, 0), keys: keys.length };
}

/** The events stream of a BullMQ queue: its length, its bytes, its cap, and its events by name. */
async function eventStream(redis, queue) {
  const key = `bull:${queue}:events`;
  const [length, bytes, cap] = await Promise.all([
    redis.xlen(key),
    redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'),
    redis.hget(`bull:${queue}:meta`, 'opts.maxLenEvents'),
  ]);
  const byName = {};
  const samples = {};
  let last = '-';
  for (let pages = 0; pages < 1_000; pages++) {
    const entries = await redis.xrange(key, last === '-' ? '-' : `(${last}`, '+', 'COUNT', 1000);
    if (entries.length === 0) break;
    for (const [id, fields] of entries) {
      const event = fields[fields.indexOf('event') + 1];
      byName[event] = (byName[event] ?? 0) + 1;
      samples[event] ??= `${id} ${fields.join(' ')}`;
      last = id;
    }
  }
  return { length, bytes: Number(bytes), cap: Number(cap), byName, samples };
}

// ---- 1. A worker thread of the pool ----

async function threadOfPool() {
  const tasks = createAsyncApi({ threads: { min: 1, max: 1 }, ttl: 1_000, maxTasks: Infinity, maxWait: 180, onError: () => {} });
  const app = express();
  app.use(express.json());
  app.post('/trivial', tasks.asyncApi.worker(heapFixture));
  app.post('/heap', tasks.asyncApi.worker(heapFixture, { export: 'heap' }));
  app.use(tasks.router);
  const { base, close } = await listen(app);
  try {
    return await keptPerTask(base);
  } finally {
    await close();
    await tasks.close();
  }
}

async function keptPerTask(base) {
  await submitMany(`${base}/trivial`, warmup);
  const before = await heapOfThread(`${base}/heap`);
  await submitMany(`${base}/trivial`, threadTasks);
  const after = await heapOfThread(`${base}/heap`);
  return (after - before) / threadTasks;
}

async function plainPiscina(withPort) {
  const pool = new Piscina({ filename: piscinaFixture, maxThreads: 1, minThreads: 1 });
  const runMany = async (count) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < count) {
          next++;
          if (withPort) {
            const { port1, port2 } = new MessageChannel();
            await pool.run({ n: 1, port: port2 }, { transferList: [port2] });
            port1.close();
          } else {
            await pool.run({ n: 1 });
          }
        }
      }),
    );
  };
  const heap = async () => (await pool.run(null, { name: 'heap' })).heapUsed;
  try {
    await runMany(warmup);
    const before = await heap();
    await runMany(threadTasks);
    const after = await heap();
    return (after - before) / threadTasks;
  } finally {
    await pool.destroy();
  }
}

// ---- 2. The thread of a BullMQ worker process ----

async function threadOfWorkerProcess() {
  const queue = `bench-memory-${run}-thread`;
  const worker = child('./memory-worker.js', [queue]);
  let tasks;
  let close;
  try {
    await worker.ready;
    tasks = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue }), ttl: 1_000, maxTasks: Infinity, maxWait: 180, onError: () => {} });
    const app = express();
    app.use(express.json());
    app.post('/trivial', tasks.asyncApi.worker(heapFixture));
    app.post('/heap', tasks.asyncApi.worker(heapFixture, { export: 'heap' }));
    app.use(tasks.router);
    let base;
    ({ base, close } = await listen(app));
    return await keptPerTask(base);
  } finally {
    await close?.();
    await tasks?.close();
    await worker.stop();
    await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
  }
}

// ---- 3. Queued worker tasks, in the server process ----

async function queuedWorkerTasks() {
  const server = child('./memory-server.js', ['queued'], ['--expose-gc']);
  const { port } = await server.ready;
  const base = `http://127.0.0.1:${port}`;
  const heap = async () => JSON.parse((await send(`${base}/__bench/heap`, { method: 'GET' })).body);
  try {
    // The anchor: plain Express and piscina, the pool's 2 threads blocked.
    await submitMany(`${base}/plain-trivial`, 500);
    const block = await send(`${base}/__bench/plain-block`);
    if (block.status !== 200) throw new Error(`blocking the plain pool answered ${block.status}: ${block.body}`);
    const plainBefore = await heap();
    await submitMany(`${base}/plain-trivial`, queuedTasks);
    const plainAfter = await heap();
    if (plainAfter.plainQueued !== queuedTasks) throw new Error(`${plainAfter.plainQueued} plain tasks queued, not ${queuedTasks}`);
    await send(`${base}/__bench/plain-release`);

    // The library: 2 tasks that run until canceled, then the queued ones.
    const warm = await submitMany(`${base}/trivial`, 500);
    await settled(base + warm.at(-1));
    const waiting = await submitMany(`${base}/wait`, 2);
    for (const monitor of waiting) await until(base + monitor, 'running');
    const before = await heap();
    const queued = await submitMany(`${base}/trivial`, queuedTasks);
    const after = await heap();
    for (const monitor of [queued[0], queued.at(-1)]) {
      const { status } = JSON.parse((await send(base + monitor, { method: 'GET' })).body);
      if (status !== 'queued') throw new Error(`a task behind the busy threads was ${status}, not queued`);
    }
    for (const monitor of waiting) {
      const { status } = await send(base + monitor, { method: 'DELETE' });
      if (status !== 200) throw new Error(`canceling a running task answered ${status}`);
    }
    await settled(base + queued.at(-1));
    return {
      heap: (after.heapUsed - before.heapUsed) / queuedTasks,
      rss: (after.rss - before.rss) / queuedTasks,
      plainHeap: (plainAfter.heapUsed - plainBefore.heapUsed) / queuedTasks,
      plainRss: (plainAfter.rss - plainBefore.rss) / queuedTasks,
    };
  } finally {
    await server.stop();
  }
}

// ---- 4. Live inline tasks, in the server process ----

async function liveInlineTasks() {
  const server = child('./memory-server.js', ['live'], ['--expose-gc']);
  const { port } = await server.ready;
  const base = `http://127.0.0.1:${port}`;
  const heap = async () => JSON.parse((await send(`${base}/__bench/heap`, { method: 'GET' })).body);
  try {
    await submitMany(`${base}/plain-done`, 500);
    const plainBefore = await heap();
    await submitMany(`${base}/plain-live`, liveTasks);
    const plainAfter = await heap();
    await send(`${base}/__bench/release?gate=plain`);

    const warm = await submitMany(`${base}/done`, 500);
    await settled(base + warm.at(-1));
    const before = await heap();
    const live = await submitMany(`${base}/live`, liveTasks);
    await until(base + live.at(-1), 'running');
    const after = await heap();
    await send(`${base}/__bench/release?gate=live`);
    const { status } = await settled(base + live.at(-1));
    if (status !== 200) throw new Error(`a released live task answered ${status}`);
    return {
      heap: (after.heapUsed - before.heapUsed) / liveTasks,
      rss: (after.rss - before.rss) / liveTasks,
      plainHeap: (plainAfter.heapUsed - plainBefore.heapUsed) / liveTasks,
      plainRss: (plainAfter.rss - plainBefore.rss) / liveTasks,
    };
  } finally {
    await server.stop();
  }
}

// ---- 5. Redis bytes per retained task ----

async function retainedInRedis(redis) {
  const queue = `bench-memory-${run}-redis`;
  const tasks = createAsyncApi({ backend: bullmqBackend({ connection: redisUrl, queue }), ttl: 600_000, maxTasks: Infinity, maxWait: 120, onError: () => {} });
  const app = express();
  app.use(express.json());
  app.post('/trivial', tasks.asyncApi.worker(heapFixture));
  app.use(tasks.router);
  const { base, close } = await listen(app);
  let worker;
  try {
    // One task before any worker process: its job as the queue holds it until taken.
    const [first] = await submitMany(`${base}/trivial`, 1);
    const firstId = first.split('/').at(-1);
    const jobKey = `bull:${queue}:${firstId}`;
    const queuedJob = {
      bytes: Number(await redis.call('MEMORY', 'USAGE', jobKey, 'SAMPLES', '0')),
      fields: await redis.hgetall(jobKey),
      taskBytes: Number(await redis.call('MEMORY', 'USAGE', `{express-async-api:${queue}}:task:${firstId}`, 'SAMPLES', '0')),
    };
    worker = child('./memory-worker.js', [queue]);
    await worker.ready;
    await settled(base + first);
    for (const monitor of await submitMany(`${base}/trivial`, redisWarmup - 1)) await settled(base + monitor);
    await sleep(200);
    const before = await usedMemory(redis);
    const monitors = await submitMany(`${base}/trivial`, retainedTasks);
    for (const monitor of monitors) {
      const { status } = await settled(base + monitor);
      if (status !== 200) throw new Error(`a task answered ${status}`);
    }
    await sleep(500);
    const after = await usedMemory(redis);
    const keys = await inventory(redis, queue, [`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
    const events = await eventStream(redis, queue);
    // One retained task, field by field.
    const id = monitors.at(-1).split('/').at(-1);
    const taskKey = `{express-async-api:${queue}}:task:${id}`;
    const indexKey = `{express-async-api:${queue}}:index`;
    const task = {
      key: taskKey,
      bytes: Number(await redis.call('MEMORY', 'USAGE', taskKey, 'SAMPLES', '0')),
      // A JSON string of short names (src/stores/redis-store.ts).
      fields: JSON.parse(await redis.get(taskKey)),
      length: await redis.strlen(taskKey),
      pttl: await redis.pttl(taskKey),
      encoding: await redis.object('ENCODING', taskKey),
    };
    const index = {
      bytes: Number(await redis.call('MEMORY', 'USAGE', indexKey, 'SAMPLES', '0')),
      entries: await redis.zcard(indexKey),
      encoding: await redis.object('ENCODING', indexKey),
    };
    return { queue, growth: (after - before) / retainedTasks, keys, events, task, index, queuedJob, retained: retainedTasks + redisWarmup };
  } finally {
    await close();
    await tasks.close();
    await worker?.stop();
    await deleteKeys([`{express-async-api:${queue}}:*`, `bull:${queue}:*`]);
  }
}

// Plain BullMQ: the same job data (the library's, as it queued it), completed by a plain
// Worker that returns what the trivial handler does, completed jobs kept (BullMQ's default).
async function retainedByBullmq(redis, data) {
  const queue = `bench-memory-${run}-plain`;
  const url = new URL(redisUrl);
  const connection = { host: url.hostname, port: Number(url.port || 6379), ...(url.password ? { password: decodeURIComponent(url.password) } : {}) };
  const jobs = new Queue(queue, { connection });
  const worker = new Worker(queue, async (job) => ({ n: job.data?.job?.request?.body?.n ?? 0 }), { connection: { ...connection, maxRetriesPerRequest: null } });
  const completed = async (count) => {
    for (let polls = 0; (await jobs.getCompletedCount()) < count; polls++) {
      if (polls > 3_000) throw new Error('the plain BullMQ jobs did not complete');
      await sleep(20);
    }
  };
  const addMany = async (count) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < count) {
          next++;
          await jobs.add('plain', data);
        }
      }),
    );
  };
  try {
    await worker.waitUntilReady();
    await addMany(redisWarmup);
    await completed(redisWarmup);
    await sleep(200);
    const before = await usedMemory(redis);
    await addMany(retainedTasks);
    await completed(redisWarmup + retainedTasks);
    await sleep(500);
    const after = await usedMemory(redis);
    const keys = await inventory(redis, queue, [`bull:${queue}:*`]);
    const events = await eventStream(redis, queue);
    return { queue, growth: (after - before) / retainedTasks, keys, events, retained: retainedTasks + redisWarmup };
  } finally {
    await worker.close();
    await jobs.close();
    await deleteKeys([`bull:${queue}:*`]);
  }
}

// ---- Run and print ----

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const bytes = (n) => `${fmt(n)} B`;
const results = {};
const time = async (name, measure) => {
  const start = performance.now();
  results[name] = await measure();
  console.error(`${name}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
};

if (runs(1)) {
  await time('pool', threadOfPool);
  await time('piscinaPort', () => plainPiscina(true));
  await time('piscina', () => plainPiscina(false));
}
if (runs(2)) await time('workerProcess', threadOfWorkerProcess);
if (runs(3)) await time('queued', queuedWorkerTasks);
if (runs(4)) await time('live', liveInlineTasks);
if (runs(5)) {
  const redis = new Redis(redisUrl);
  try {
    await time('redis', () => retainedInRedis(redis));
    await time('plainRedis', () => retainedByBullmq(redis, JSON.parse(results.redis.queuedJob.fields.data)));
  } finally {
    redis.disconnect();
  }
}
if (runs(2) || runs(5)) {
  const redis = new Redis(redisUrl);
  results.redisVersion = /^redis_version:(\S+)/m.exec(await redis.info('server'))[1];
  redis.disconnect();
}
agent.destroy();

console.log(`\nnode ${process.version}; Redis ${results.redisVersion ?? 'not used'} at ${redisUrl}`);

if (results.pool || results.workerProcess) {
  console.log(`\n| heap a worker thread keeps per task, after a full GC (${fmt(threadTasks)} trivial tasks after ${fmt(warmup)}) | bytes per task | target |`);
  console.log('|---|---:|---|');
  if (results.pool) console.log(`| express-async-api, one-thread pool (\`threads: { min: 1, max: 1 }\`) | ${bytes(results.pool)} | < 50 B |`);
  if (results.workerProcess) console.log(`| express-async-api, the thread of a BullMQ worker process (concurrency 1) | ${bytes(results.workerProcess)} | < 50 B |`);
  if (results.pool) {
    console.log(`| plain piscina, one thread, a new MessagePort transferred per task (anchor) | ${bytes(results.piscinaPort)} | |`);
    console.log(`| plain piscina, one thread, no port (anchor) | ${bytes(results.piscina)} | |`);
  }
}

if (results.queued || results.live) {
  console.log('\n| server process, after a full GC | express-async-api | anchor | target |');
  console.log('|---|---:|---:|---|');
  const q = results.queued;
  if (q) {
    console.log(`| heap per queued worker task (2 threads busy, ${fmt(queuedTasks)} queued); anchor: plain Express + piscina queueing a copy of the request | ${bytes(q.heap)} | ${bytes(q.plainHeap)} | ≤ 2 KB |`);
    console.log(`| RSS per queued worker task (same) | ${bytes(q.rss)} | ${bytes(q.plainRss)} | |`);
  }
  const l = results.live;
  if (l) {
    console.log(`| heap per live inline task (${fmt(liveTasks)} running, awaiting a promise); anchor: plain Express keeping the request as long | ${bytes(l.heap)} | ${bytes(l.plainHeap)} | |`);
    console.log(`| RSS per live inline task (same) | ${bytes(l.rss)} | ${bytes(l.plainRss)} | |`);
  }
}

if (results.redis) {
  const r = results.redis;
  const p = results.plainRedis;
  console.log(`\n| Redis bytes per finished task kept (${fmt(retainedTasks)} tasks after ${redisWarmup}, ttl 10 min) | used_memory growth per task | MEMORY USAGE of the queue's keys per task | target |`);
  console.log('|---|---:|---:|---|');
  console.log(`| express-async-api, BullMQ mode | ${bytes(r.growth)} | ${bytes(r.keys.bytes / r.retained)} | ≤ 700 B |`);
  console.log(`| plain BullMQ: Queue.add + Worker, completed jobs kept (anchor) | ${bytes(p.growth)} | ${bytes(p.keys.bytes / p.retained)} | |`);
  console.log('\nused_memory is the whole server\'s (other clients\' writes meanwhile count in it, and a key\'s place in the');
  console.log('keyspace and expires tables); MEMORY USAGE (SAMPLES 0) counts the queue\'s keys only, over every task kept.');

  for (const [title, result] of [['express-async-api, BullMQ mode', r], ['plain BullMQ (anchor)', p]]) {
    console.log(`\n| keys after the run, ${title}: ${fmt(result.retained)} tasks kept | type | keys | entries | expiring | MEMORY USAGE | per task |`);
    console.log('|---|---|---:|---:|---:|---:|---:|');
    for (const kind of result.keys.kinds) {
      console.log(`| \`${kind.name}\` | ${kind.type} | ${fmt(kind.keys)} | ${kind.entries === undefined ? '' : fmt(kind.entries)} | ${fmt(kind.expiring)} | ${bytes(kind.bytes)} | ${bytes(kind.bytes / result.retained)} |`);
    }
    console.log(`| all | | ${fmt(result.keys.keys)} | | | ${bytes(result.keys.bytes)} | ${bytes(result.keys.bytes / result.retained)} |`);
  }

  console.log('\n| BullMQ\'s events stream `bull:<queue>:events` | express-async-api | plain BullMQ (anchor) |');
  console.log('|---|---:|---:|');
  const names = [...new Set([...Object.keys(r.events.byName), ...Object.keys(p.events.byName)])].sort();
  console.log(`| entries (XLEN) | ${fmt(r.events.length)} | ${fmt(p.events.length)} |`);
  console.log(`| events per task | ${(r.events.length / r.retained).toFixed(2)} | ${(p.events.length / p.retained).toFixed(2)} |`);
  for (const name of names) console.log(`| "${name}" events | ${fmt(r.events.byName[name] ?? 0)} | ${fmt(p.events.byName[name] ?? 0)} |`);
  console.log(`| MEMORY USAGE | ${bytes(r.events.bytes)} | ${bytes(p.events.bytes)} |`);
  console.log(`| per entry | ${bytes(r.events.bytes / r.events.length)} | ${bytes(p.events.bytes / p.events.length)} |`);
  console.log(`| per task | ${bytes(r.events.bytes / r.retained)} | ${bytes(p.events.bytes / p.retained)} |`);
  console.log(`| maxLen (\`opts.maxLenEvents\` of \`bull:<queue>:meta\`, trimmed with ~) | ${fmt(r.events.cap)} | ${fmt(p.events.cap)} |`);
  console.log(`| bytes at maxLen (per entry × maxLen) | ${bytes((r.events.bytes / r.events.length) * r.events.cap)} | ${bytes((p.events.bytes / p.events.length) * p.events.cap)} |`);

  console.log('\n| an entry of each event, as XRANGE gives it (id, then fields) | express-async-api | plain BullMQ (anchor) |');
  console.log('|---|---|---|');
  for (const name of names) console.log(`| ${name} | \`${r.events.samples[name] ?? ''}\` | \`${p.events.samples[name] ?? ''}\` |`);

  const fieldBytes = (fields) =>
    Object.entries(fields)
      .map(([name, value]) => `${name} ${Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value))}`)
      .join(', ');
  console.log('\n| one task of express-async-api in Redis | MEMORY USAGE | what |');
  console.log('|---|---:|---|');
  console.log(`| task \`{express-async-api:<queue>}:task:<id>\`, finished | ${bytes(r.task.bytes)} | ${r.task.encoding} of ${fmt(r.task.length)} bytes of JSON, ${Object.keys(r.task.fields).length} fields (bytes of each value: ${fieldBytes(r.task.fields)}); expires in ${fmt(r.task.pttl / 1000)} s |`);
  console.log(`| index \`{express-async-api:<queue>}:index\`, per entry | ${bytes(r.index.bytes / r.index.entries)} | ${r.index.encoding} of ${fmt(r.index.entries)} entries, ${bytes(r.index.bytes)} in all |`);
  console.log(`| events stream, per task | ${bytes(r.events.bytes / r.retained)} | ${(r.events.length / r.retained).toFixed(2)} entries of ${bytes(r.events.bytes / r.events.length)} |`);
  console.log(`| job hash \`bull:<queue>:<id>\`, while queued (removed on completion) | ${bytes(r.queuedJob.bytes)} | fields: ${fieldBytes(r.queuedJob.fields)} |`);
  console.log(`| task while queued | ${bytes(r.queuedJob.taskBytes)} | |`);
}

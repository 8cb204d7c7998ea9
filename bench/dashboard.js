// Benchmarks of the dashboard (issue 11), printed as Markdown tables, each figure beside its
// target and its anchor measured in the same run:
//   npm run bench:dashboard   (Redis at REDIS_URL, 127.0.0.1:6379 by default; BENCH_ONLY=1,4
//                              runs only those sections; BENCH_RUNS timed runs per query, 200;
//                              BENCH_ROUNDS, BENCH_SECONDS the throughput's rounds, 10 of 3 s)
// 1. A page of 50 among 1,000,000 tasks in a MemoryStore (a mix of routes, owners, statuses
//    and messages, bench/dashboard-mix.js): store.list() in a fresh process, first page, page
//    2,000, a page half way, filtered pages; and GET /admin/tasks/api/tasks over HTTP.
// 2. A page of 50 among 100,000 finished tasks in Redis (RedisStore, and the dashboard of
//    bullmqBackend() over HTTP), first page and page 2,000; anchor: Bull Board's API
//    (@bull-board/api and its BullMQ adapter, bench/bull-board.js) asked for the same page of
//    100,000 completed BullMQ jobs as its UI asks (GET /api/queues?status=completed&page=…
//    &jobsPerPage=50), called directly and over HTTP. Queries of both alternate, run by run,
//    in a new order each run.
// 3. Search among the same 100,000 tasks by an id prefix and by a word of the message;
//    anchor: Bull Board has no search, so finding a job means walking its pages: measured,
//    page by page over HTTP, until the job is found.
// 4. Submit throughput of an inline route with tasks.dashboard() mounted and a page open on
//    /api/events (a client reading its events), against the same server without either:
//    two server processes loaded in alternating rounds (bench/page-open.js, a row of
//    bench/core.js too).
// 5. Heap per finished task with a dashboard mounted, as bench/core.js measures it
//    (bench/heap.js, bench/server.js heap-dashboard).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { RedisStore } from '../dist/bullmq.js';
import { bullBoardApi } from './bull-board.js';
import { here } from './builds.js';
import { COMMON_WORD, RARE_COUNT, RARE_WORD, pool, record, shuffler, summary, taskMix } from './dashboard-mix.js';
import { heapPerTask } from './heap.js';
import { client } from './load.js';
import { pageOpenSubmit, pageOpenTable } from './page-open.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const only = process.env.BENCH_ONLY?.split(',').map(Number);
const runs = (section) => only === undefined || only.includes(section);
const timedRuns = Number(process.env.BENCH_RUNS ?? 200);
const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const run = crypto.randomUUID().slice(0, 8);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line) => console.error(`[bench:dashboard ${new Date().toISOString().slice(11, 19)}] ${line}`);

const MEMORY_TASKS = 1_000_000;
const REDIS_TASKS = 100_000;
const PAGE = 50;
const DEEP_PAGE = 2_000;
// A Bull Board walk looks at this many pages at most (all of them: 100,000 / 50).
const MAX_WALK = REDIS_TASKS / PAGE;

// ---- Processes and HTTP ----

function child(args, execArgv = []) {
  const process = fork(fileURLToPath(new URL('./dashboard-server.js', import.meta.url)), args, { execArgv });
  const exited = once(process, 'exit');
  const failed = exited.then(([code]) => Promise.reject(new Error(`dashboard-server.js ${args.join(' ')} exited with ${code}`)));
  failed.catch(() => {});
  // (A promise nobody awaits, 'filled' of most servers, must not reject unhandled at exit.)
  const message = (wanted) => {
    const got = Promise.race([new Promise((resolve) => process.on('message', (value) => (wanted(value) ? resolve(value) : undefined))), failed]);
    got.catch(() => {});
    return got;
  };
  return {
    ready: message((got) => got?.port !== undefined).then(({ port }) => `http://127.0.0.1:${port}`),
    filled: message((got) => got === 'filled'),
    send: (value) => process.send(value),
    async stop() {
      if (process.exitCode !== null || process.signalCode !== null) return;
      process.send('exit');
      // (A server still filling its store does not hear 'exit' yet.)
      const timer = setTimeout(() => process.kill(), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// One keep-alive connection per server, one request at a time: a page as a browser asks for it.
const agents = new Map();
function get(url) {
  const { host } = new URL(url);
  if (!agents.has(host)) agents.set(host, new Agent({ keepAlive: true, maxSockets: 1 }));
  return new Promise((resolve, reject) => {
    const started = performance.now();
    request(url, { agent: agents.get(host) }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const ms = performance.now() - started;
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) reject(new Error(`GET ${url} answered ${res.statusCode}: ${text.slice(0, 300)}`));
        else resolve({ ms, body: JSON.parse(text) });
      });
    })
      .on('error', reject)
      .end();
  });
}

/**
 * Times each of `queries` (name → async function resolving with what to check) `timedRuns`
 * times after 20 of warm-up, round robin, so that all see the same drift of the machine; in a
 * new order each round, so that none always follows the same other (a Bull Board page leaves
 * its server collecting garbage while the next request runs). `check(name, result)` throws
 * when an answer is wrong.
 */
async function timeRoundRobin(queries, check) {
  const samples = Object.fromEntries(Object.keys(queries).map((name) => [name, []]));
  const order = Object.entries(queries);
  const shuffle = shuffler();
  for (let i = -20; i < timedRuns; i++) {
    shuffle(order);
    for (const [name, query] of order) {
      const started = performance.now();
      const result = await query();
      const ms = result?.ms ?? performance.now() - started;
      check(name, result?.body ?? result);
      if (i >= 0) samples[name].push(ms);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, summary(values)]));
}

// ---- Redis ----

async function deleteKeys(patterns) {
  const redis = new Redis(redisUrl);
  try {
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}

async function usedMemory(redis) {
  return Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))[1]);
}

// ---- 1. Memory ----

/** Starts the memory server, which fills its store (a minute or more) while Redis is filled. */
function startMemory() {
  log(`filling a MemoryStore with ${MEMORY_TASKS.toLocaleString('en-US')} tasks in a process of its own`);
  const server = child(['memory', String(MEMORY_TASKS)], ['--expose-gc', '--max-old-space-size=8192']);
  server.filled.then(() => log('the MemoryStore is filled'), () => {});
  return server;
}

async function memorySection(server) {
  try {
    await server.filled;
    server.send('measure');
    const base = await server.ready;
    const results = (await get(`${base}/__bench/results`)).body;
    log(`filled in ${(results.fill / 1000).toFixed(0)} s; timing pages over HTTP`);
    const api = `${base}/admin/tasks/api/tasks`;
    const exports = encodeURIComponent('POST /exports/:format');
    const paths = {
      first: `?limit=${PAGE}`,
      page2000: `?limit=${PAGE}&cursor=${results.cursor}`,
      middle: `?limit=${PAGE}&to=${results.known.createdAt}`,
      failed: `?status=failed&limit=${PAGE}`,
      route: `?route=${exports}&limit=${PAGE}`,
      failedExports: `?status=failed&route=${exports}&from=${Date.now() - 3_600_000}&limit=${PAGE}`,
      id8: `?id=${results.known.id.slice(0, 8)}`,
      id6: `?id=${results.known.id.slice(0, 6)}`,
      rare: `?text=${RARE_WORD}`,
      common: `?text=${COMMON_WORD}&limit=${PAGE}`,
    };
    const http = await timeRoundRobin(
      Object.fromEntries(Object.entries(paths).map(([name, path]) => [name, () => get(api + path)])),
      (name, body) => {
        if (body.tasks.length !== results.found[name]) throw new Error(`GET ${paths[name]} found ${body.tasks.length} tasks, the store ${results.found[name]}`);
      },
    );
    return { ...results, http };
  } finally {
    await server.stop();
  }
}

// ---- 2 and 3. Redis ----

async function redisSection(memoryServer) {
  const queue = `bench-dashboard-${run}`;
  const rawQueue = `${queue}-raw`;
  // The store's keys as bullmqBackend({ queue }) names them (src/distributed/connection.ts).
  const prefix = `express-async-api:${queue}`;
  const patterns = [`{${prefix}}:*`, `bull:${queue}:*`, `bull:${rawQueue}:*`];
  const redis = new Redis(redisUrl);
  const storeClient = new Redis(redisUrl);
  const store = new RedisStore({ client: storeClient, prefix, ttl: 3_600_000, maxTasks: 200_000 });
  const bullClient = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const raw = new Queue(rawQueue, { connection: bullClient });
  const servers = [];
  try {
    // The same 100,000 tasks for both: the same ids, routes, URLs and messages.
    const tasks = [...taskMix(REDIS_TASKS, { spacing: 3, statuses: () => 'succeeded' })];
    const known = tasks[REDIS_TASKS / 2];
    const rare = tasks.filter((task) => task.message?.includes(RARE_WORD));

    log(`filling RedisStore with ${REDIS_TASKS.toLocaleString('en-US')} finished tasks`);
    let before = await usedMemory(redis);
    let started = performance.now();
    await pool(tasks, 64, (task) => record(store, task));
    const oursFill = { ms: performance.now() - started, bytes: ((await usedMemory(redis)) - before) / REDIS_TASKS };

    log(`filling BullMQ with ${REDIS_TASKS.toLocaleString('en-US')} completed jobs (the anchor)`);
    before = await usedMemory(redis);
    started = performance.now();
    for (let i = 0; i < REDIS_TASKS; i += 1_000) {
      await raw.addBulk(tasks.slice(i, i + 1_000).map((task) => ({ name: task.route, data: { method: task.method, url: task.url, owner: task.owner }, opts: { jobId: task.id } })));
    }
    const byId = new Map(tasks.map((task) => [task.id, task]));
    const workerClient = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker(
      rawQueue,
      async (job) => {
        const task = byId.get(job.id);
        if (task.message !== undefined) await job.updateProgress({ progress: task.progress, message: task.message });
        return JSON.parse(task.reply.body);
      },
      { connection: workerClient, concurrency: 100 },
    );
    try {
      for (let polls = 0; (await raw.getCompletedCount()) < REDIS_TASKS; polls++) {
        if (polls > 1_200) throw new Error('the BullMQ jobs did not complete in 10 minutes');
        await sleep(500);
      }
    } finally {
      await worker.close();
      workerClient.disconnect();
    }
    const bullFill = { ms: performance.now() - started, bytes: ((await usedMemory(redis)) - before) / REDIS_TASKS };
    // Nothing is timed while the other process fills its store: the memory section runs first.
    if (memoryServer !== undefined) await time('memory', () => memorySection(memoryServer));

    const board = bullBoardApi(raw);
    const ours = child(['redis', queue]);
    const theirs = child(['bullboard', rawQueue]);
    servers.push(ours, theirs);
    const [oursBase, theirsBase] = await Promise.all([ours.ready, theirs.ready]);

    log('following our cursors to page 2,000');
    started = performance.now();
    let cursor;
    for (let page = 1; page < DEEP_PAGE; page++) cursor = (await store.list({ limit: PAGE, cursor })).next;
    const oursWalk = performance.now() - started;

    log('timing pages and searches, ours and Bull Board, directly and over HTTP');
    const oursApi = `${oursBase}/admin/tasks/api/tasks`;
    const theirsApi = (page) => `${theirsBase}/api/queues?activeQueue=${encodeURIComponent(rawQueue)}&status=completed&page=${page}&jobsPerPage=${PAGE}`;
    const expect = {
      first: (body) => body.tasks.length === PAGE && body.tasks[0].id === tasks.at(-1).id,
      deep: (body) => body.tasks.length === PAGE && body.tasks.at(-1).id === tasks[0].id,
      board: (body) => body.queues[0].jobs.length === PAGE,
      id: (body) => body.tasks.some((task) => task.id === known.id),
      rare: (body) => body.tasks.length === RARE_COUNT,
      common: (body) => body.tasks.length === PAGE && body.tasks.every((task) => task.message.includes(COMMON_WORD)),
    };
    const checks = { floor: () => true, oursFirst: expect.first, oursDeep: expect.deep, boardFirst: expect.board, boardDeep: expect.board, id8: expect.id, id6: expect.id, rare: expect.rare, common: expect.common };
    const check = (name, body) => {
      if (!checks[name](body)) throw new Error(`the answer of ${name} is not what it should be: ${JSON.stringify(body).slice(0, 300)}`);
    };
    const direct = await timeRoundRobin(
      {
        oursFirst: () => store.list({ limit: PAGE }),
        boardFirst: () => board.page('completed', 1, PAGE).then(({ body }) => body),
        oursDeep: () => store.list({ limit: PAGE, cursor }),
        boardDeep: () => board.page('completed', DEEP_PAGE, PAGE).then(({ body }) => body),
        id8: () => store.list({ id: known.id.slice(0, 8) }),
        id6: () => store.list({ id: known.id.slice(0, 6) }),
        rare: () => store.list({ text: RARE_WORD }),
        common: () => store.list({ text: COMMON_WORD, limit: PAGE }),
      },
      check,
    );
    // The size of our first page, for the floor: a plain route answering as many bytes.
    const pageBytes = Buffer.byteLength(JSON.stringify((await get(`${oursApi}?limit=${PAGE}`)).body));
    const http = await timeRoundRobin(
      {
        floor: () => get(`${theirsBase}/__bench/floor?bytes=${pageBytes}`),
        oursFirst: () => get(`${oursApi}?limit=${PAGE}`),
        boardFirst: () => get(theirsApi(1)),
        oursDeep: () => get(`${oursApi}?limit=${PAGE}&cursor=${cursor}`),
        boardDeep: () => get(theirsApi(DEEP_PAGE)),
        id8: () => get(`${oursApi}?id=${known.id.slice(0, 8)}`),
        id6: () => get(`${oursApi}?id=${known.id.slice(0, 6)}`),
        rare: () => get(`${oursApi}?text=${RARE_WORD}`),
        common: () => get(`${oursApi}?text=${COMMON_WORD}&limit=${PAGE}`),
      },
      check,
    );

    // Bull Board: a job is found by walking its pages, newest first, until one has it.
    const walk = async (found) => {
      const walkStart = performance.now();
      for (let page = 1; page <= MAX_WALK; page++) {
        const { body } = await get(theirsApi(page));
        if (body.queues[0].jobs.some(found)) return { pages: page, ms: performance.now() - walkStart };
      }
      return { pages: undefined, ms: performance.now() - walkStart };
    };
    log('walking Bull Board pages for a word, then for an id prefix');
    const hasWord = (word) => (job) => JSON.stringify([job.data, job.progress]).includes(word);
    const walks = {
      rare: await walk(hasWord(RARE_WORD)),
      common: await walk(hasWord(COMMON_WORD)),
      id: await walk((job) => job.id.startsWith(known.id.slice(0, 8))),
    };
    return { direct, http, pageBytes, walks, oursWalk, oursFill, bullFill, rarePositions: rare.map((task) => REDIS_TASKS - task.index), knownPosition: REDIS_TASKS - known.index };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await store.close();
    storeClient.disconnect();
    await raw.close();
    bullClient.disconnect();
    await deleteKeys(patterns);
    redis.disconnect();
  }
}

// ---- 4. Submit throughput with the dashboard and an open event stream ----

async function throughputSection() {
  log(`submit throughput: ${rounds} alternating rounds of ${seconds} s`);
  return pageOpenSubmit({ here }, { rounds, seconds });
}

// ---- Run and print ----

const results = {};
const loads = [loadavg()[0]];
const started = performance.now();
const time = async (name, measure) => {
  const start = performance.now();
  results[name] = await measure();
  log(`${name}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
};
// The MemoryStore fills in its own process while this one fills Redis; then each is timed alone.
const memoryServer = runs(1) ? startMemory() : undefined;
try {
  if (runs(2) || runs(3)) await time('redis', () => redisSection(memoryServer));
  else if (memoryServer !== undefined) await time('memory', () => memorySection(memoryServer));
  if (runs(4)) await time('throughput', throughputSection);
  if (runs(5)) await time('heap', () => heapPerTask('heap-dashboard'));
} finally {
  for (const agent of agents.values()) agent.destroy();
  await memoryServer?.stop();
}
loads.push(loadavg()[0]);

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const ms = (n) => (n < 0.1 ? `${(n * 1000).toFixed(0)} µs` : n < 10 ? `${n.toFixed(2)} ms` : `${n.toFixed(0)} ms`);
const both = (s) => `${ms(s.median)} / ${ms(s.p95)}`;
const verdict = (ok) => (ok ? 'met' : '**not met**');

console.log(
  `\nnode ${process.version}; ${timedRuns} timed runs per query after 20 of warm-up, queries round robin; ` +
    `load average ${loads[0].toFixed(1)} at the start, ${loads[1].toFixed(1)} at the end; ${((performance.now() - started) / 60_000).toFixed(1)} min in all\n`,
);

if (results.memory) {
  const m = results.memory;
  const label = {
    first: 'first page',
    page2000: 'page 2,000 (its cursor, found by following 1,999 pages)',
    middle: 'a page half way (`to`: 500,000 tasks deep)',
    failed: "`status: ['failed']` (3 %)",
    route: "`route: 'POST /exports/:format'` (20 %)",
    failedExports: 'failed exports of the last hour (status + route + `from`)',
    id8: '`id`: an 8-character prefix',
    id6: '`id`: a 6-character prefix',
    rare: `\`text\`: a word ${RARE_COUNT} tasks have ("${RARE_WORD}")`,
    common: `\`text\`: a word a quarter have ("${COMMON_WORD}")`,
  };
  console.log(`A page of 50 among ${fmt(m.count)} tasks in a MemoryStore (a fresh process, ${fmt(m.heapPerTask)} B of heap per task of the mix)\n`);
  console.log('| query | store.list(): median / p95 | GET /admin/tasks/api/tasks: median / p95 | target: ≤ 2 ms |');
  console.log('|---|---:|---:|---|');
  for (const [name, text] of Object.entries(label)) {
    const store = m.lists[name];
    const http = m.http[name];
    const p95 = store.p95 <= 2 && http.p95 <= 2 ? '' : ` (p95 over 2 ms: ${[store.p95 > 2 ? 'store' : '', http.p95 > 2 ? 'HTTP' : ''].filter(Boolean).join(', ')})`;
    console.log(`| ${text} | ${both(store)} | ${both(http)} | ${verdict(store.median <= 2 && http.median <= 2)}${p95} |`);
  }
  console.log(`\nFollowing cursors from page 1 to page 2,000: ${fmt(m.walk)} ms in all (${ms(m.walk / 1_999)} a page).\n`);
}

if (results.redis) {
  const r = results.redis;
  const ratio = (a, b) => a.median / b.median;
  if (runs(2)) {
    console.log(
      `A page of 50 among ${fmt(REDIS_TASKS)} finished tasks in Redis, against Bull Board's page of ${fmt(REDIS_TASKS)} completed BullMQ jobs ` +
        `(Redis used_memory per task ${fmt(r.oursFill.bytes)} B, per completed job ${fmt(r.bullFill.bytes)} B)\n`,
    );
    console.log('| page of 50 | express-async-api: median / p95 | Bull Board: median / p95 | ratio of medians (p95s) | target: ≤ 0.5× |');
    console.log('|---|---:|---:|---:|---|');
    const rows = [
      ['first page: `store.list()` vs its `/api/queues` handler', r.direct.oursFirst, r.direct.boardFirst],
      ['page 2,000: the same', r.direct.oursDeep, r.direct.boardDeep],
      ['first page over HTTP', r.http.oursFirst, r.http.boardFirst],
      ['page 2,000 over HTTP', r.http.oursDeep, r.http.boardDeep],
    ];
    for (const [text, ours, theirs] of rows) {
      console.log(`| ${text} | ${both(ours)} | ${both(theirs)} | ${ratio(ours, theirs).toFixed(2)}× (${(ours.p95 / theirs.p95).toFixed(2)}×) | ${verdict(ratio(ours, theirs) <= 0.5)} |`);
    }
    console.log(
      `\nThe floor of a page over HTTP, in the same run: plain Express answering ${fmt(r.pageBytes)} bytes of JSON (the size of our page) from the same kind of process, ${both(r.http.floor)}. ` +
        `Following our cursors from page 1 to page 2,000: ${fmt(r.oursWalk)} ms in all (${ms(r.oursWalk / 1_999)} a page).\n`,
    );
  }
  if (runs(3)) {
    const walk = (w) => (w.pages === undefined ? `not found in ${fmt(MAX_WALK)} pages, ${fmt(w.ms)} ms` : `${fmt(w.pages)} page${w.pages === 1 ? '' : 's'}, ${fmt(w.ms)} ms`);
    console.log(`Search among the same ${fmt(REDIS_TASKS)} tasks (the id's task is the ${fmt(r.knownPosition)}th newest; the rare word's newest task the ${fmt(Math.min(...r.rarePositions))}th)\n`);
    console.log('| search | store.list(): median / p95 | over HTTP: median / p95 | target: ≤ 10 ms | Bull Board: walking its pages over HTTP until found |');
    console.log('|---|---:|---:|---|---|');
    const rows = [
      ['`id`: an 8-character prefix', 'id8', r.walks.id],
      ['`id`: a 6-character prefix', 'id6', r.walks.id],
      [`\`text\`: a word ${RARE_COUNT} tasks have ("${RARE_WORD}")`, 'rare', r.walks.rare],
      [`\`text\`: a word a quarter have ("${COMMON_WORD}"), first page`, 'common', r.walks.common],
    ];
    for (const [text, name, w] of rows) {
      console.log(`| ${text} | ${both(r.direct[name])} | ${both(r.http[name])} | ${verdict(r.direct[name].median <= 10 && r.http[name].median <= 10)} | ${walk(w)} |`);
    }
    console.log('');
  }
}

if (results.throughput) {
  console.log(`Submit throughput (${client}, ${rounds} alternating rounds of ${seconds} s, 32 connections, two server processes; tasks kept 2 s)\n`);
  console.log(`${pageOpenTable(results.throughput, { here: 'this build' })}\n`);
}

if (results.heap !== undefined) {
  console.log('| heap per finished task, a dashboard mounted (bench/core.js: 100,000 tasks of a small JSON result, with route, method and URL) | value | target: ≤ 600 B |');
  console.log('|---|---:|---|');
  console.log(`| express-async-api | ${fmt(results.heap)} B | ${verdict(results.heap <= 600)} |`);
}

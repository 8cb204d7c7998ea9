// The tasks bench/dashboard.js lists and searches: a mix of routes, URLs, owners, progress
// messages, replies and problems, the same from run to run (a seeded generator; the ids are
// random). Both stores, and the BullMQ jobs of the anchor, are filled from it.

/** A word that only `RARE_COUNT` tasks have in their message, and one that a quarter have. */
export const RARE_WORD = 'quarantined';
export const COMMON_WORD = 'rendering';
export const RARE_COUNT = 5;

// mulberry32: small, fast, and the same sequence for the same seed.
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = (random, values) => values[Math.floor(random() * values.length)];

// Routes by weight, each with how it makes a URL and what its progress says.
const routes = [
  {
    weight: 30,
    route: 'POST /reports/:kind',
    method: 'POST',
    url: (r) => `/reports/${pick(r, ['sales', 'inventory', 'payroll', 'churn'])}?year=${2020 + Math.floor(r() * 6)}`,
    message: (r) => `${COMMON_WORD} page ${1 + Math.floor(r() * 40)} of 40`,
  },
  {
    weight: 20,
    route: 'POST /exports/:format',
    method: 'POST',
    url: (r) => `/exports/${pick(r, ['csv', 'xlsx', 'json'])}?table=${pick(r, ['orders', 'customers', 'invoices'])}`,
    message: (r) => `wrote ${Math.floor(r() * 100) * 1000} rows`,
  },
  {
    weight: 20,
    route: 'POST /images/:id/resize',
    method: 'POST',
    url: (r) => `/images/${Math.floor(r() * 1e6)}/resize?width=${pick(r, [320, 800, 1600])}`,
    message: (r) => `resized ${1 + Math.floor(r() * 8)} of 8 variants`,
  },
  {
    weight: 15,
    route: 'POST /emails/batch',
    method: 'POST',
    url: () => '/emails/batch',
    message: (r) => `sent ${Math.floor(r() * 1000)} of 1000 messages`,
  },
  {
    weight: 10,
    route: 'PUT /videos/:id/transcode',
    method: 'PUT',
    url: (r) => `/videos/${Math.floor(r() * 1e5)}/transcode?preset=${pick(r, ['480p', '720p', '1080p'])}`,
    message: (r) => `transcoding segment ${1 + Math.floor(r() * 60)} of 60`,
  },
  {
    weight: 5,
    route: 'POST /imports',
    method: 'POST',
    url: (r) => `/imports?source=${pick(r, ['s3', 'sftp', 'upload'])}`,
    message: (r) => `parsed ${Math.floor(r() * 50) * 100} records`,
  },
];
const totalWeight = routes.reduce((sum, route) => sum + route.weight, 0);

export const routeNames = routes.map((route) => route.route);

function routeOf(random) {
  let at = random() * totalWeight;
  for (const route of routes) {
    at -= route.weight;
    if (at < 0) return route;
  }
  return routes.at(-1);
}

function replyOf(random) {
  const body = JSON.stringify({ url: `/files/${Math.floor(random() * 1e9).toString(36)}.bin`, bytes: Math.floor(random() * 1e7) });
  return {
    status: 200,
    headers: ['X-Powered-By', 'Express', 'Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(body.length), 'ETag', `W/"${body.length.toString(16)}-${Math.floor(random() * 1e12).toString(36)}"`],
    body,
  };
}

const problem = { status: 500, type: 'about:blank', title: 'Internal Server Error', detail: 'upstream timed out after 30000 ms', expose: false };

/**
 * `count` task descriptions, oldest first (each with its `index`), created `spacing` ms apart (on average) and ending
 * before now. `statuses(i)` says what task i became ('succeeded', 'failed', 'canceled',
 * 'running', 'queued'). RARE_COUNT tasks, evenly spaced (the newest a sixth of the way from
 * the newest end), report a message with RARE_WORD.
 */
export function* taskMix(count, { spacing, statuses, ids }) {
  const random = generator(11);
  const start = Date.now() - count * spacing - 60_000;
  const rare = new Set(Array.from({ length: RARE_COUNT }, (_, k) => Math.round(((k + 1) * count) / (RARE_COUNT + 1))));
  for (let i = 0; i < count; i++) {
    const route = routeOf(random);
    const createdAt = Math.floor(start + i * spacing);
    const status = statuses(i);
    const started = status !== 'queued';
    // Three in five tasks that ran said how far they were.
    const message = rare.has(i) ? `file ${RARE_WORD} by the virus scan` : started && random() < 0.6 ? route.message(random) : undefined;
    yield {
      index: i,
      id: ids?.[i] ?? crypto.randomUUID(),
      owner: random() < 0.3 ? undefined : `user-${Math.floor(random() * random() * 200)}`,
      createdAt,
      route: route.route,
      method: route.method,
      url: route.url(random),
      status,
      startedAt: started ? createdAt + 1 + Math.floor(random() * 20) : undefined,
      finishedAt: status === 'queued' || status === 'running' ? undefined : createdAt + 30 + Math.floor(random() * 400),
      message,
      progress: message === undefined ? undefined : Math.round(random() * 100) / 100,
      reply: status === 'succeeded' ? replyOf(random) : undefined,
      problem: status === 'failed' ? problem : undefined,
    };
  }
}

/** The outcome a store's `finish()` takes for a task of the mix. */
export function outcomeOf(task) {
  if (task.status === 'succeeded') return { status: 'succeeded', reply: task.reply };
  if (task.status === 'failed') return { status: 'failed', problem: task.problem };
  return { status: 'canceled' };
}

/** Puts one task of the mix into `store` through its public methods, as a runner would. */
export async function record(store, task) {
  await store.create({ id: task.id, owner: task.owner, createdAt: task.createdAt, route: task.route, method: task.method, url: task.url });
  if (task.startedAt === undefined) return;
  await store.start(task.id, task.startedAt);
  if (task.message !== undefined) await store.progress(task.id, task.progress, task.message);
  if (task.finishedAt !== undefined) await store.finish(task.id, outcomeOf(task), task.finishedAt);
}

/** Runs `work(item)` for each item of `items`, `concurrency` at a time. */
export async function pool(items, concurrency, work) {
  const iterator = items[Symbol.iterator]();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let next = iterator.next(); !next.done; next = iterator.next()) await work(next.value);
    }),
  );
}

/**
 * A function that shuffles an array in place, the same sequence of orders every run: timed
 * queries go round robin in a new order each round, so that none always runs after the same
 * other (and pays for its garbage, or its server's).
 */
export function shuffler(seed = 7) {
  const random = generator(seed);
  return (items) => {
    for (let j = items.length - 1; j > 0; j--) {
      const k = Math.floor(random() * (j + 1));
      [items[j], items[k]] = [items[k], items[j]];
    }
    return items;
  };
}

/** Median and 95th percentile (nearest rank) of samples in ms. */
export function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  return { median: at(0.5), p95: at(0.95), runs: sorted.length };
}

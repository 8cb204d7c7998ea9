import { Counter, Gauge, Histogram, register, type Registry } from 'prom-client';
import { InvalidOptionError } from '../core/errors.js';
import type { BackendCensus, MonitorKind, RejectReason, TaskMetrics } from '../core/observer.js';
import { checkKeys, describe } from '../core/options.js';
import { problemTypes } from '../core/problem.js';
import type { Task } from '../core/task.js';

/** Options of `asyncApiMetrics()`. */
export interface AsyncApiMetricsOptions {
  /** The prom-client registry the metrics are registered in. Default: prom-client's global `register`. */
  registry?: Registry;
  /**
   * The upper bounds, in seconds, of the buckets of both histograms (queue wait and run time).
   * Default: 0.005 s to 1 hour, for work that takes from milliseconds to long minutes.
   */
  buckets?: number[];
}

/** What `asyncApiMetrics()` returns: pass it as the `metrics` option of `createAsyncApi()` and `startWorker()`. */
export interface AsyncApiMetrics extends TaskMetrics {
  /** The registry that holds the metrics: serve `await registry.metrics()` as `registry.contentType` on `/metrics`. */
  readonly registry: Registry;
}

export const defaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

// The label of a task without a route (a store's task from an earlier version).
const NO_ROUTE = '(none)';

function finishedStatus(task: Task): 'succeeded' | 'failed' | 'canceled' | 'timed_out' {
  if (task.status === 'failed' && task.problem?.type === problemTypes.taskTimedOut) return 'timed_out';
  return task.status as 'succeeded' | 'failed' | 'canceled';
}

function bucketsOption(value: unknown): number[] {
  if (value === undefined) return defaultBuckets;
  const ok =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((bound, i) => typeof bound === 'number' && Number.isFinite(bound) && bound > 0 && (i === 0 || bound > (value[i - 1] as number)));
  if (!ok) throw new InvalidOptionError(`asyncApiMetrics options.buckets must be a list of increasing positive numbers of seconds, got ${describe(value)}`);
  return value as number[];
}

/**
 * Prometheus metrics of the tasks, on prom-client: what was submitted, refused and finished,
 * how long tasks waited and ran, what is queued and running now, the thread pool, and the
 * monitor's reads. Labels: `route` (the route as Express matched it, or a defined task's name:
 * never the raw path), `status`, `reason`, `kind`. One per registry; give it to every
 * `createAsyncApi()` and `startWorker()` of the process.
 */
export function asyncApiMetrics(options: AsyncApiMetricsOptions = {}): AsyncApiMetrics {
  const given = checkKeys(options, ['registry', 'buckets'], 'asyncApiMetrics options');
  const registry = (given.registry ?? register) as Registry;
  // By its methods: another copy of prom-client makes registries of another class.
  const methods = registry as unknown as Record<string, unknown> | null;
  if (typeof methods !== 'object' || methods === null || typeof methods.registerMetric !== 'function' || typeof methods.getSingleMetric !== 'function' || typeof methods.metrics !== 'function') {
    throw new InvalidOptionError(`asyncApiMetrics options.registry must be a prom-client Registry, got ${describe(registry)}`);
  }
  const buckets = bucketsOption(given.buckets);
  const registers = [registry];
  if (registry.getSingleMetric('async_api_tasks_submitted_total') !== undefined) {
    throw new InvalidOptionError('asyncApiMetrics options.registry holds the metrics of another asyncApiMetrics() already: make one per registry, and give it to each createAsyncApi()');
  }

  const sources = new Set<() => BackendCensus | Promise<BackendCensus>>();
  // One census per scrape: prom-client collects every metric of a scrape in the same turn.
  let census: Promise<BackendCensus[]> | undefined;
  const current = (): Promise<BackendCensus[]> => {
    if (census === undefined) {
      census = Promise.all([...sources].map(async (source) => source()));
      setImmediate(() => (census = undefined));
    }
    return census;
  };
  const sum = (all: BackendCensus[], read: (census: BackendCensus) => number | undefined): number | undefined => {
    let total: number | undefined;
    for (const one of all) {
      const value = read(one);
      if (value !== undefined) total = (total ?? 0) + value;
    }
    return total;
  };

  const submitted = new Counter({ name: 'async_api_tasks_submitted_total', help: 'Tasks submitted, by route.', labelNames: ['route'], registers });
  const finished = new Counter({
    name: 'async_api_tasks_finished_total',
    help: 'Tasks ended, by route and status (succeeded, failed, canceled, timed_out), counted by the process whose write ended them.',
    labelNames: ['route', 'status'],
    registers,
  });
  const rejected = new Counter({
    name: 'async_api_tasks_rejected_total',
    help: 'Submits refused with 503, by route and reason (limit, shutting_down, store_unavailable).',
    labelNames: ['route', 'reason'],
    registers,
  });
  const queueSeconds = new Histogram({
    name: 'async_api_task_queue_seconds',
    help: 'Seconds from a task\'s submit to its start (of its last attempt), observed when it ends.',
    labelNames: ['route'],
    buckets,
    registers,
  });
  const runSeconds = new Histogram({
    name: 'async_api_task_run_seconds',
    help: 'Seconds from a task\'s start (of its last attempt) to its end, by route and status.',
    labelNames: ['route', 'status'],
    buckets,
    registers,
  });
  new Gauge({
    name: 'async_api_tasks',
    help: 'Tasks of this process now, by status: queued and running here, waiting (running tasks that wait for an outside event, here or parked), and held in its store (live and finished).',
    labelNames: ['status'],
    registers,
    async collect() {
      const all = await current();
      this.reset();
      for (const status of ['queued', 'running', 'waiting', 'held'] as const) {
        const value = sum(all, (one) => one[status]);
        if (value !== undefined) this.set({ status }, value);
      }
    },
  });
  const threadGauge = (name: string, help: string, read: (census: BackendCensus) => number | undefined) =>
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        const value = sum(await current(), read);
        this.reset();
        if (value !== undefined) this.set(value);
      },
    });
  threadGauge('async_api_threads', 'Worker threads of the pool now.', (one) => one.threads?.threads);
  threadGauge('async_api_thread_utilization', 'The share of the thread pool\'s capacity used since it started, from 0 to 1 (piscina\'s utilization).', (one) => one.threads?.utilization);
  threadGauge('async_api_thread_queue', 'Tasks waiting on the thread pool for a thread.', (one) => one.threads?.queue);
  const monitorRequests = new Counter({
    name: 'async_api_monitor_requests_total',
    help: 'Reads of task monitors, by kind (poll, wait, events).',
    labelNames: ['kind'],
    registers,
  });
  const waits = new Gauge({ name: 'async_api_monitor_waits', help: 'Monitor reads held open by Prefer: wait now.', registers });
  const streams = new Gauge({ name: 'async_api_monitor_streams', help: 'Event streams of task monitors open now.', registers });
  // Created at once, so a route that never failed still shows 0 for its other labels.
  for (const kind of ['poll', 'wait', 'events'] as const) monitorRequests.inc({ kind }, 0);

  return {
    registry,
    submitted(task) {
      submitted.inc({ route: task.route ?? NO_ROUTE });
    },
    rejected(route, reason: RejectReason) {
      rejected.inc({ route: route ?? NO_ROUTE, reason });
    },
    finished(task) {
      const route = task.route ?? NO_ROUTE;
      const status = finishedStatus(task);
      finished.inc({ route, status });
      const { createdAt, startedAt, finishedAt } = task;
      if (startedAt === undefined) return;
      queueSeconds.observe({ route }, Math.max(0, startedAt - createdAt) / 1000);
      if (finishedAt !== undefined) runSeconds.observe({ route, status }, Math.max(0, finishedAt - startedAt) / 1000);
    },
    census(source) {
      sources.add(source);
      return () => sources.delete(source);
    },
    monitored(kind: MonitorKind) {
      monitorRequests.inc({ kind });
      if (kind === 'poll') return undefined;
      const gauge = kind === 'wait' ? waits : streams;
      gauge.inc();
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        gauge.dec();
      };
    },
  };
}

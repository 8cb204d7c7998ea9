// What happened per route, minute by minute, over the last quarter hour: tasks submitted and
// ended, and how long they waited and ran, as histograms. Stores record it as tasks change
// (a Redis store in its scripts, so every process's tasks count), the dashboard sums it.
import type { Task, TaskStatus } from './task.js';

/** Minutes of activity a store keeps. */
export const ACTIVITY_MINUTES = 15;
export const MINUTE = 60_000;

/**
 * A duration's bucket: ceil(log(ms) / log(BASE)), 0 for a millisecond or less. Each bucket
 * is about 19% wider than the one before, so a percentile read from them is within 19%.
 * (Redis's scripts compute the same with Lua's math.log.)
 */
export const BUCKET_BASE = 2 ** 0.25;

export function bucketOf(ms: number): number {
  return ms <= 1 ? 0 : Math.ceil(Math.log(ms) / Math.log(BUCKET_BASE) - 1e-9);
}

/** The largest duration of a bucket, in ms. */
export function bucketLimit(bucket: number): number {
  return bucket === 0 ? 1 : Math.round(BUCKET_BASE ** bucket);
}

/** The counts of one route in one minute. */
export interface RouteMinute {
  /** The minute's start (ms since the epoch). */
  readonly minute: number;
  readonly route: string;
  submitted: number;
  succeeded: number;
  failed: number;
  canceled: number;
  /** Run times (start to end) and queue waits (submit to start), as counts per bucket. */
  readonly run: Record<number, number>;
  readonly queue: Record<number, number>;
}

/** The label of tasks that have no route (a store filled by other code). */
export const NO_ROUTE = '(none)';

export function newRouteMinute(minute: number, route: string): RouteMinute {
  return { minute, route, submitted: 0, succeeded: 0, failed: 0, canceled: 0, run: {}, queue: {} };
}

/** Adds a task's end to its minute: its outcome, and the times it waited and ran. */
export function recordEnd(record: RouteMinute, task: Pick<Task, 'createdAt' | 'startedAt' | 'finishedAt'>, status: TaskStatus): void {
  if (status === 'succeeded' || status === 'failed' || status === 'canceled') record[status]++;
  const { startedAt, finishedAt } = task;
  if (startedAt === undefined) return;
  const queue = bucketOf(startedAt - task.createdAt);
  record.queue[queue] = (record.queue[queue] ?? 0) + 1;
  if (finishedAt === undefined) return;
  const run = bucketOf(finishedAt - startedAt);
  record.run[run] = (record.run[run] ?? 0) + 1;
}

/** Percentiles of a histogram, in ms (each a bucket's upper limit); `null` when it is empty. */
export function percentiles(histogram: Record<number, number>): { p50: number; p95: number; p99: number } | null {
  const buckets = Object.keys(histogram).map(Number).sort((a, b) => a - b);
  let total = 0;
  for (const bucket of buckets) total += histogram[bucket]!;
  if (total === 0) return null;
  const at = (fraction: number): number => {
    const rank = Math.max(1, Math.ceil(total * fraction));
    let seen = 0;
    for (const bucket of buckets) {
      seen += histogram[bucket]!;
      if (seen >= rank) return bucketLimit(bucket);
    }
    return bucketLimit(buckets[buckets.length - 1]!);
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** Adds histogram `from` into `into`. */
export function addHistogram(into: Record<number, number>, from: Readonly<Record<number, number>>): void {
  for (const [bucket, count] of Object.entries(from)) into[Number(bucket)] = (into[Number(bucket)] ?? 0) + count;
}

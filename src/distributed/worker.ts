import { realpathSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { HandlerModuleError, InvalidOptionError, WorkerCrashedError } from '../core/errors.js';
import type { TaskMetrics } from '../core/observer.js';
import { observeStore } from '../core/observed-store.js';
import { booleanOption, bytes, checkKeys, count, describe, functionOption, metricsOption, resolveOptions, type ThreadOptions } from '../core/options.js';
import { problemFromError } from '../core/problem.js';
import { TaskRunner, defaultLimits } from '../core/runner.js';
import { ThreadPoolExecutor } from '../executors/thread-pool.js';
import { displayName } from '../executors/module-name.js';
import { RedisStore } from '../stores/redis-store.js';
import { openTelemetryTracer } from '../tracing/tracer.js';
import { queueName, redisOptions, storePrefix, type RedisConnection } from './connection.js';
import { PARK_AT_MOST, RetryLater, jobName, type QueuedTask } from './queued-task.js';
import { RedisWatch, isConnectionError } from './redis-watch.js';

/** Options of `startWorker()`. */
export interface StartWorkerOptions {
  /** Where Redis is: ioredis options or a `redis://` URL. */
  connection: RedisConnection;
  /** The queue the web processes put tasks on (`bullmqBackend({ queue })`). */
  queue: string;
  /** Tasks this process runs at once, each on a worker thread of its own. Default 1. */
  concurrency?: number;
  /** Directories whose handler modules this process runs; others fail. Default: the working directory. */
  allow?: string[];
  /**
   * Options of BullMQ's `Worker`, but its connection, concurrency and autorun. The library's
   * defaults differ from BullMQ's in two: `lockDuration` 5000 and `stalledInterval` 2500
   * (BullMQ's: 30000 each), so that the tasks of a worker process that died go to another
   * within about 7.5 s, not a minute. The handler runs on a thread, so the worker's event
   * loop stays free to renew its locks (every `lockDuration` / 2) even under CPU-heavy work.
   */
  workerOptions?: Omit<WorkerOptions, 'connection' | 'concurrency' | 'autorun'>;
  /** The thread pool's options but `min` and `max` (which follow `concurrency`). */
  threads?: Omit<ThreadOptions, 'min' | 'max'>;
  /** Called with the error of every failed task (and, without a task id, of the worker itself). Default: logs 5xx failures. */
  onError?: (error: unknown, taskId: string | undefined) => void;
  /**
   * Prometheus metrics of the tasks this process runs: `asyncApiMetrics()` from
   * `express-async-api/metrics` (the CLI's `--metrics-port` serves them). Default: none.
   */
  metrics?: TaskMetrics;
  /**
   * Traces each task's run with OpenTelemetry when `@opentelemetry/api` is installed and an SDK
   * registered here: a child of its submit's span, in the web process. Default `true`.
   */
  tracing?: boolean;
  /** The largest result of a step (`req.task.step()`), as JSON, in bytes: as `createAsyncApi()`'s option. Default 262144 (256 KiB). */
  maxStepBytes?: number;
}

/** A running worker process's part: `close()` it to stop taking tasks. */
export interface TaskWorker {
  /** The BullMQ worker underneath (for its events). */
  readonly worker: Worker<QueuedTask>;
  /** Stops taking tasks, lets the running ones finish, and closes every connection and thread. */
  close(): Promise<void>;
}

/** The library's defaults for BullMQ's Worker (see `StartWorkerOptions.workerOptions`). */
export const workerDefaults = { lockDuration: 5_000, stalledInterval: 2_500 } as const;

// Module paths whose answer the gate keeps: the modules of a deployment are few.
const GATE_CACHE = 1_000;

// A module may run when its real path lies in an allowed directory: a forged job cannot
// make this process import code from elsewhere, nor through a symbolic link. A module
// found allowed is not looked up again.
function moduleGate(directories: readonly string[]): (module: string) => string | undefined {
  const allowed = new Set<string>();
  const roots = directories.map((directory) => {
    try {
      return realpathSync(resolve(directory));
    } catch {
      throw new InvalidOptionError(`startWorker options.allow: there is no directory ${directory}`);
    }
  });
  return (module) => {
    if (allowed.has(module)) return undefined;
    let path: string;
    try {
      path = realpathSync(fileURLToPath(module));
    } catch {
      return `There is no handler module at ${module} on this worker.`;
    }
    if (roots.some((root) => path.startsWith(root + sep))) {
      if (allowed.size < GATE_CACHE) allowed.add(module);
      return undefined;
    }
    return `The handler module ${displayName(path)} is not in a directory this worker may run modules from.`;
  };
}

// The job's errorKey, if it is one (a job is data from the queue).
function errorKeyOf(job: Job<QueuedTask> | undefined): number | undefined {
  const key = job?.data?.errorKey;
  return Number.isSafeInteger(key) && (key as number) >= 0 ? key : undefined;
}

/**
 * Runs handler modules for web processes that use `bullmqBackend()` with the same queue:
 * takes their tasks from BullMQ, runs each on a worker thread (with the same runner as
 * in one process: progress, timeout, cancel from any web process), and writes the
 * outcome to the task store in Redis.
 *
 * A worker process that dies mid-task (even SIGKILL) loses its lock; BullMQ's stalled-job
 * check gives the task to another worker process, which runs it again: at least once.
 */
export async function startWorker(options: StartWorkerOptions): Promise<TaskWorker> {
  const given = checkKeys(options, ['connection', 'queue', 'concurrency', 'allow', 'workerOptions', 'threads', 'onError', 'metrics', 'tracing', 'maxStepBytes'], 'startWorker options');
  const connection = redisOptions(given.connection, 'startWorker options.connection');
  const queue = queueName(given.queue, 'startWorker options.queue');
  const concurrency = given.concurrency === undefined ? 1 : count(given.concurrency, 'startWorker options.concurrency');
  if (concurrency === Infinity) throw new InvalidOptionError('startWorker options.concurrency must be a finite number of tasks');
  const allow = given.allow === undefined ? [process.cwd()] : given.allow;
  if (!Array.isArray(allow) || allow.length === 0 || !allow.every((dir) => typeof dir === 'string')) {
    throw new InvalidOptionError(`startWorker options.allow must be a list of directories, got ${describe(allow)}`);
  }
  const gate = moduleGate(allow as string[]);
  const workerOptions = checkKeys(given.workerOptions, [], 'startWorker options.workerOptions', true);
  // The thread options, checked as createAsyncApi checks them; one thread per task at once.
  const { threads, onError } = resolveOptions({
    threads: { ...(given.threads as ThreadOptions | undefined), min: concurrency, max: concurrency },
    ...(given.onError === undefined ? {} : { onError: functionOption(given.onError, 'startWorker options.onError') }),
  });
  const metrics = metricsOption(given.metrics, 'startWorker options.metrics');
  const tracing = given.tracing === undefined ? true : booleanOption(given.tracing, 'startWorker options.tracing');
  const limits = { ...defaultLimits, ...(given.maxStepBytes === undefined ? {} : { maxStepBytes: bytes(given.maxStepBytes, 'startWorker options.maxStepBytes') }) };

  // A lost connection is said once, as what it is, and its return once; other errors of the
  // worker itself go to onError.
  const watch = new RedisWatch(`express-async-api worker ${process.pid}`, (line) => console.warn(line));
  const workerError = (error: unknown): void => (isConnectionError(error) ? watch.lost(error) : onError(error, undefined));
  const client = new Redis(connection);
  client.on('error', workerError);
  // ioredis retries a connection that closed; a quick restart may never refuse one.
  client.on('reconnecting', () => watch.lost());
  client.on('ready', () => watch.ready());
  // With metrics, the ends this process writes are counted here.
  const { store } = observeStore(new RedisStore({ client, prefix: storePrefix(queue) }), metrics);
  const tracer = tracing ? openTelemetryTracer() : undefined;
  // Each write to Redis is a round trip: a task that ends within 10 ms is written once, at its end.
  const runner = new TaskRunner(store, onError, tracer === undefined ? { deferStart: 10, limits } : { deferStart: 10, tracer, limits });
  const executor = new ThreadPoolExecutor(threads, (error, taskId) => onError(error, taskId));
  const stopCensus = metrics?.census(() => ({ running: runner.running, threads: executor.stats() }));

  // Fails a live task; whichever process does so first reports it.
  async function fail(taskId: string, error: Error, errorKey: number | undefined): Promise<void> {
    const failed = await store.finish(taskId, { status: 'failed', problem: problemFromError(error, errorKey) }, Date.now());
    if (failed !== undefined) onError(error, taskId);
  }

  // The wait before each job's next attempt, from its failed one until BullMQ asks.
  const retryDelays = new Map<string, number>();
  const worker = new Worker<QueuedTask, void, string>(
    queue,
    async (job: Job<QueuedTask>, token?: string) => {
      // The queue is this library's own; what else is on it is not for this worker to run.
      if (job.name !== jobName) throw new UnrecoverableError(`Job "${job.name}" is not a task of express-async-api`);
      const { taskId, job: moduleJob, timeout, retries, trace, resume } = job.data;
      const errorKey = errorKeyOf(job);
      const refused = gate(moduleJob.module);
      if (refused !== undefined) return fail(taskId, new HandlerModuleError(refused), errorKey);
      const plan = retries === undefined ? undefined : { attempt: job.attemptsMade + 1, policy: { ...retries, retryOn: undefined } };
      // A later attempt or a resumed run whose task ended meanwhile (a cancel that could not take the job back).
      if ((job.attemptsMade > 0 || resume !== undefined) && (await store.get(taskId))?.status !== 'running') return;
      // BullMQ hands a job to one worker at a time; a task already running was lost by another.
      const end = await runner.run(taskId, moduleJob, executor, { timeout, takeOver: true, retry: plan, trace, errorKey, parkable: true, resume });
      if (typeof end === 'number' && job.id !== undefined) {
        retryDelays.set(job.id, end);
        throw new RetryLater();
      }
      if (typeof end === 'object') {
        // Parked: the job waits delayed, holding no worker slot, until the event comes (the web
        // process that takes it promotes the job) or the wait's deadline.
        await job.updateData({ ...job.data, resume: { spent: end.spent } });
        await job.moveToDelayed(Math.min(end.until ?? Infinity, Date.now() + PARK_AT_MOST), token);
        // Its event may have come while the run ended, before the job was delayed: the
        // promote then found no delayed job. The store says so: it waits no more.
        const task = await store.get(taskId);
        if (task?.status === 'running' && task.waitingFor === undefined) await job.promote().catch(() => {});
        throw new DelayedError();
      }
    },
    {
      ...workerDefaults,
      ...workerOptions,
      settings: {
        ...(workerOptions.settings as WorkerOptions['settings']),
        // The wait before a retried attempt: what the runner chose, and told the store.
        backoffStrategy: (_attemptsMade: number, _type?: string, _error?: Error, retried?: { id?: string }) => {
          const delay = retried?.id === undefined ? undefined : retryDelays.get(retried.id);
          if (retried?.id !== undefined) retryDelays.delete(retried.id);
          return delay ?? 0;
        },
      },
      connection: { ...connection, maxRetriesPerRequest: null } as ConnectionOptions,
      concurrency,
      autorun: true,
    },
  );
  worker.on('error', workerError);

  // A job that stalled more often than BullMQ allows is failed by BullMQ in the worker that
  // takes it next, without our processor (which fails nothing itself): end its task, once.
  worker.on('failed', (job, error) => {
    // A retried attempt: its task stays running, until its next attempt (if BullMQ gives it one).
    if (error instanceof RetryLater && job !== undefined && job.attemptsMade < (job.opts.attempts ?? 1)) return;
    const taskId = job?.name === jobName ? job.data?.taskId : undefined;
    if (taskId === undefined) return;
    fail(taskId, new WorkerCrashedError(`BullMQ gave up on its job: ${error.message}`), errorKeyOf(job)).catch((failure: unknown) => onError(failure, taskId));
  });

  await worker.waitUntilReady();

  return {
    worker,
    async close() {
      stopCensus?.();
      await worker.close();
      await Promise.all([executor.close(), store.close()]);
      client.disconnect();
    },
  };
}

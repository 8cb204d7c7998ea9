import { realpathSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QueueEvents, UnrecoverableError, Worker, type ConnectionOptions, type Job, type WorkerOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { HandlerModuleError, InvalidOptionError, WorkerCrashedError } from '../core/errors.js';
import { checkKeys, count, describe, functionOption, resolveOptions, type ThreadOptions } from '../core/options.js';
import { problemFromError } from '../core/problem.js';
import { TaskRunner } from '../core/runner.js';
import { ThreadPoolExecutor } from '../executors/thread-pool.js';
import { displayName } from '../executors/module-name.js';
import { RedisStore } from '../stores/redis-store.js';
import { queueName, redisOptions, storePrefix, type RedisConnection } from './connection.js';
import { jobName, type QueuedTask } from './queued-task.js';

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
  /** Options of BullMQ's `Worker`, but its connection, concurrency and autorun (`lockDuration`, `stalledInterval`, …). */
  workerOptions?: Omit<WorkerOptions, 'connection' | 'concurrency' | 'autorun'>;
  /** The thread pool's options but `min` and `max` (which follow `concurrency`). */
  threads?: Omit<ThreadOptions, 'min' | 'max'>;
  /** Called with the error of every failed task (and, without a task id, of the worker itself). Default: logs 5xx failures. */
  onError?: (error: unknown, taskId: string | undefined) => void;
}

/** A running worker process's part: `close()` it to stop taking tasks. */
export interface TaskWorker {
  /** The BullMQ worker underneath (for its events). */
  readonly worker: Worker<QueuedTask>;
  /** Stops taking tasks, lets the running ones finish, and closes every connection and thread. */
  close(): Promise<void>;
}

// A module may run when its real path lies in an allowed directory: a forged job cannot
// make this process import code from elsewhere, nor through a symbolic link.
function moduleGate(directories: readonly string[]): (module: string) => string | undefined {
  const roots = directories.map((directory) => {
    try {
      return realpathSync(resolve(directory));
    } catch {
      throw new InvalidOptionError(`startWorker options.allow: there is no directory ${directory}`);
    }
  });
  return (module) => {
    let path: string;
    try {
      path = realpathSync(fileURLToPath(module));
    } catch {
      return `There is no handler module at ${module} on this worker.`;
    }
    if (roots.some((root) => path.startsWith(root + sep))) return undefined;
    return `The handler module ${displayName(path)} is not in a directory this worker may run modules from.`;
  };
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
  const given = checkKeys(options, ['connection', 'queue', 'concurrency', 'allow', 'workerOptions', 'threads', 'onError'], 'startWorker options');
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

  const client = new Redis(connection);
  client.on('error', (error) => onError(error, undefined));
  const store = new RedisStore({ client, prefix: storePrefix(queue) });
  const runner = new TaskRunner(store, onError);
  const executor = new ThreadPoolExecutor(threads, (error) => onError(error, undefined));

  // Fails a live task; whichever process does so first reports it.
  async function fail(taskId: string, error: Error): Promise<void> {
    const failed = await store.finish(taskId, { status: 'failed', problem: problemFromError(error) }, Date.now());
    if (failed !== undefined) onError(error, taskId);
  }

  const worker = new Worker<QueuedTask, void, string>(
    queue,
    async (job: Job<QueuedTask>) => {
      // The queue is this library's own; what else is on it is not for this worker to run.
      if (job.name !== jobName) throw new UnrecoverableError(`Job "${job.name}" is not a task of express-async-api`);
      const { taskId, job: moduleJob, timeout } = job.data;
      const refused = gate(moduleJob.module);
      if (refused !== undefined) return fail(taskId, new HandlerModuleError(refused));
      // BullMQ hands a job to one worker at a time; a task already running was lost by another.
      await runner.run(taskId, moduleJob, executor, timeout, true);
    },
    { ...workerOptions, connection: { ...connection, maxRetriesPerRequest: null } as ConnectionOptions, concurrency, autorun: true },
  );
  worker.on('error', (error) => onError(error, undefined));

  // A job that stalled more often than BullMQ allows is failed by BullMQ itself, without
  // our processor: end its task, once, whichever worker process hears of it first.
  const events = new QueueEvents(queue, { connection: connection as ConnectionOptions });
  events.on('error', (error) => onError(error, undefined));
  events.on('failed', ({ jobId, failedReason }) => {
    fail(jobId, new WorkerCrashedError(`BullMQ gave up on its job: ${failedReason}`)).catch((error: unknown) => onError(error, jobId));
  });

  await Promise.all([worker.waitUntilReady(), events.waitUntilReady()]);

  return {
    worker,
    async close() {
      await worker.close();
      await Promise.all([events.close(), executor.close(), store.close()]);
      client.disconnect();
    },
  };
}

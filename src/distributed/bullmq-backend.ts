import { Queue, type ConnectionOptions, type QueueOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Backend, BackendFactory } from '../core/backend.js';
import { NoWorkerError, StoreUnavailableError } from '../core/errors.js';
import { observeStore } from '../core/observed-store.js';
import { checkKeys, milliseconds } from '../core/options.js';
import { problemFromError } from '../core/problem.js';
import { RedisStore } from '../stores/redis-store.js';
import { queueName, redisOptions, storePrefix, type RedisConnection } from './connection.js';
import { jobName, type QueuedTask } from './queued-task.js';
import { WorkerCensus } from './worker-census.js';

/** Options of `bullmqBackend()`. */
export interface BullmqBackendOptions {
  /** Where Redis is: ioredis options or a `redis://` URL. */
  connection: RedisConnection;
  /** The BullMQ queue the worker processes take tasks from. */
  queue: string;
  /**
   * Options of BullMQ's `Queue`, but its connection. The library's default differs from
   * BullMQ's in one: `streams.events.maxLen` is 100 (BullMQ's: 10000), since the library
   * reads none of the queue's events stream (it keeps its own state, and tells of changes on
   * its own channels); each kept event costs about 100 bytes of Redis.
   */
  queueOptions?: Omit<QueueOptions, 'connection'>;
  /**
   * How often (ms) the web process counts the queue's worker processes (BullMQ's
   * `Queue.getWorkers()`), to log when there are none, and when there are again. Default
   * 10000; `0` counts never.
   */
  workerCheckInterval?: number;
}

/**
 * Keeps tasks in Redis and runs handler modules on worker processes (`startWorker()`, or
 * `npx express-async-api worker`) through a BullMQ queue: any web process answers for any
 * task, and a task survives the web process that took it. Inline handlers cannot run
 * there: wrap handler modules with `asyncApi.worker()`.
 *
 * Commands fail at once while Redis is unreachable (no offline queue): submits and
 * monitors answer 503, and resume by themselves when it is back.
 */
export function bullmqBackend(options: BullmqBackendOptions): BackendFactory {
  const given = checkKeys(options, ['connection', 'queue', 'queueOptions', 'workerCheckInterval'], 'bullmqBackend options');
  const connection = { ...redisOptions(given.connection, 'bullmqBackend options.connection'), enableOfflineQueue: false };
  const queue = queueName(given.queue, 'bullmqBackend options.queue');
  const queueOptions = checkKeys(given.queueOptions, [], 'bullmqBackend options.queueOptions', true) as Omit<QueueOptions, 'connection'>;
  const workerCheckInterval =
    given.workerCheckInterval === undefined ? 10_000 : given.workerCheckInterval === 0 ? 0 : milliseconds(given.workerCheckInterval, 'bullmqBackend options.workerCheckInterval');

  return function createBullmqBackend(config): Backend {
    const client = new Redis({ ...connection, lazyConnect: false });
    // ioredis retries a lost connection by itself; commands meanwhile reject (no offline queue).
    client.on('error', () => {});
    // With metrics, the ends written here (cancels, queue timeouts) are counted here; worker
    // processes count the ones they write.
    const { store } = observeStore(new RedisStore({ client, prefix: storePrefix(queue), ttl: config.ttl, failedTtl: config.failedTtl, maxTasks: config.maxTasks }), config.metrics);
    const tasks = new Queue<QueuedTask, void, string>(queue, { streams: { events: { maxLen: 100 } }, ...queueOptions, connection: connection as ConnectionOptions });
    tasks.on('error', () => {});
    const keepFailed = config.failedTtl === Infinity ? undefined : { age: Math.ceil(config.failedTtl / 1000) };
    const census = workerCheckInterval === 0 ? undefined : new WorkerCensus(tasks, queue, workerCheckInterval, (line) => console.warn(line));
    // The first count as soon as the queue is connected (commands fail until then).
    if (census !== undefined) tasks.waitUntilReady().then(() => census.check(), () => {});
    // The BullMQ job of a task's current run: its id, and one of its own after each rewind.
    const jobIdOf = (id: string, rewinds: number | undefined): string => (rewinds === undefined || rewinds === 0 ? id : `${id}-r${rewinds}`);
    const currentJob = async (id: string): Promise<string> => jobIdOf(id, (await store.get(id))?.rewinds);
    // The queueTimeout of each task still waiting for its deadline.
    const deadlines = new Set<NodeJS.Timeout>();

    // At its deadline a task still queued fails, if its job can still be taken back: BullMQ
    // removes a job only while no worker holds it, so a task that started just now runs on.
    async function expire(id: string, jobId: string, queueTimeout: number, errorKey: number | undefined): Promise<void> {
      try {
        if ((await store.get(id))?.status !== 'queued') return;
        if ((await tasks.remove(jobId)) !== 1) return;
        const error = new NoWorkerError(queueTimeout);
        const failed = await store.finish(id, { status: 'failed', problem: problemFromError(error, errorKey) }, Date.now());
        if (failed !== undefined) config.onError(error, id);
      } catch (error) {
        config.onError(error, id);
      }
    }

    return {
      store,
      runInline: undefined,
      queueTimeouts: true,
      jobData: 'json',
      // The worker processes that BullMQ knows for the queue: their Redis connections.
      async stats() {
        try {
          const workers = (await tasks.getWorkers()) as Record<string, string>[];
          return { workers: workers.map(({ name, addr, age, idle }) => ({ name, addr, age: Number(age), idle: Number(idle) })) };
        } catch (error) {
          throw new StoreUnavailableError({ cause: error });
        }
      },
      async runModule(id, job, route, trace, options) {
        const { retries } = route;
        const data: QueuedTask = {
          taskId: id,
          job,
          // Its route and headers: the submit's context itself stays here.
          ...(trace === undefined ? {} : { trace: trace.route === undefined ? { headers: trace.headers } : { route: trace.route, headers: trace.headers } }),
          ...(route.timeout === undefined ? {} : { timeout: route.timeout }),
          ...(retries === undefined ? {} : { retries: { attempts: retries.attempts, backoff: retries.backoff } }),
          ...(route.errorKey === undefined ? {} : { errorKey: route.errorKey }),
        };
        try {
          // The task's state lives in the store; the job is only its transport. Retries are
          // BullMQ's own: its attempts, with the wait the worker's runner chose ('custom').
          await tasks.add(jobName, data, {
            // A rewound task's run is a job of its own: its earlier job may still be kept, or held.
            jobId: jobIdOf(id, options?.rewinds),
            attempts: retries?.attempts ?? 1,
            ...(retries === undefined ? {} : { backoff: { type: 'custom' } }),
            removeOnComplete: true,
            removeOnFail: keepFailed ?? false,
          });
        } catch (error) {
          throw new StoreUnavailableError({ cause: error });
        }
        const { queueTimeout } = route;
        if (queueTimeout !== undefined) {
          const deadline = setTimeout(() => {
            deadlines.delete(deadline);
            void expire(id, jobIdOf(id, options?.rewinds), queueTimeout, route.errorKey);
          }, queueTimeout);
          deadline.unref();
          deadlines.add(deadline);
        }
      },
      async census() {
        // The jobs waiting for a worker process, as BullMQ counts them (nothing when Redis is not there).
        try {
          return { queued: await tasks.getJobCountByTypes('waiting', 'prioritized') };
        } catch {
          return {};
        }
      },
      // A task's event came while its job waited delayed (parked): it runs again now. A job not
      // delayed yet (its run is still ending) is promoted by its worker, which checks the store.
      async wake(id) {
        try {
          await (await tasks.getJob(await currentJob(id)))?.promote();
        } catch {
          // Not delayed (now or anymore): its worker sees the event.
        }
      },
      async dropQueued(id) {
        // Removes the job unless a worker holds it (BullMQ refuses to remove a locked job).
        await tasks.remove(await currentJob(id));
      },
      async close() {
        census?.stop();
        for (const deadline of deadlines) clearTimeout(deadline);
        deadlines.clear();
        await tasks.close();
        await store.close();
        client.disconnect();
      },
    };
  };
}

import type { Backend, BackendFactory } from '../core/backend.js';
import { InvalidOptionError, ShuttingDownError } from '../core/errors.js';
import { checkKeys, describe } from '../core/options.js';
import type { TaskStore } from '../core/store.js';
import { JobQueue } from '../core/job-queue.js';
import { observeStore } from '../core/observed-store.js';
import { TaskRunner } from '../core/runner.js';
import { InlineExecutor } from '../executors/inline.js';
import { ThreadPoolExecutor } from '../executors/thread-pool.js';
import { MemoryStore } from '../stores/memory-store.js';

/** Options of `memoryBackend()`. */
export interface MemoryBackendOptions {
  /** Where tasks are kept. Default: a `MemoryStore` with the `ttl` and `maxTasks` options. */
  store?: TaskStore;
}

/**
 * Keeps tasks in this process (a `MemoryStore` unless given another store) and runs them
 * here: inline handlers on the event loop, handler modules on a worker-thread pool. The
 * default backend: nothing to install.
 */
export function memoryBackend(options: MemoryBackendOptions = {}): BackendFactory {
  const given = checkKeys(options, ['store'], 'memoryBackend options');
  const methods = ['create', 'get', 'start', 'retry', 'progress', 'finish', 'take', 'delete', 'rewind', 'watch', 'watchAll', 'list', 'counts', 'activity', 'rerun', 'durable', 'keepStep', 'wait', 'sendEvent', 'close'] as const;
  const store = given.store as TaskStore | undefined;
  if (store !== undefined && !methods.every((method) => typeof (store as unknown as Record<string, unknown>)?.[method] === 'function')) {
    throw new InvalidOptionError(`memoryBackend options.store must be a TaskStore (with ${methods.join(', ')}), got ${describe(store)}`);
  }
  return function createMemoryBackend(config): Backend {
    const held = store ?? new MemoryStore({ ttl: config.ttl, failedTtl: config.failedTtl, maxTasks: config.maxTasks });
    // With metrics, its writes are counted; every task lives its whole life here, so the
    // tasks that went through it are the ones queued and running.
    const observed = observeStore(held, config.metrics);
    const tasks = observed.store;
    const limits = { maxEvents: config.maxEvents, maxStepBytes: config.maxStepBytes };
    const runner = new TaskRunner(tasks, config.onError, config.tracer === undefined ? { limits } : { tracer: config.tracer, limits });
    const inline = new InlineExecutor(config.concurrency);
    const threads = new ThreadPoolExecutor(config.threads, (error, taskId) => config.onError(error, taskId));
    // Twice as many module jobs as threads go to the pool (so that a thread that frees finds
    // its next task there); the others wait in the backend's queue, a small record each.
    const modules = new JobQueue(config.threads.max * 2, runner, threads, tasks);
    return {
      store: tasks,
      runInline(id, job, route, trace) {
        const { retries } = route;
        const attempt = (n: number): void => {
          const retry = retries === undefined ? undefined : { attempt: n, policy: retries };
          void runner.run(id, job, inline, { timeout: route.timeout, takeOver: n > 1, retry, trace, errorKey: route.errorKey }).then((end) => {
            if (typeof end === 'number') runner.later(id, end, () => attempt(n + 1), route.errorKey);
          });
        };
        attempt(1);
      },
      queueTimeouts: false,
      jobData: 'clone',
      // (Module jobs waiting in the backend's queue wait for a thread too.)
      stats: async () => {
        const pool = threads.stats();
        return { threads: { threads: pool.threads, utilization: pool.utilization, queued: pool.queue + modules.waiting } };
      },
      runModule(id, job, route, trace) {
        modules.push({ id, job, timeout: route.timeout, retries: route.retries, attempt: 1, trace, errorKey: route.errorKey });
      },
      // A task's event came: its inline run waiting here goes on, or its parked module job runs again.
      wake(id) {
        if (!runner.wake(id)) modules.wake(id);
      },
      // A task canceled while its job was parked (or queued) outside the runner: its job goes.
      async dropQueued(id) {
        modules.drop(id);
      },
      census() {
        const size = (held as { size?: unknown }).size;
        return {
          queued: observed.queued(),
          running: observed.running(),
          waiting: runner.waiting + modules.parked,
          ...(typeof size === 'number' ? { held: size } : {}),
          threads: threads.stats(),
        };
      },
      async close(timeout) {
        const deadline = Date.now() + timeout;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([modules.whenIdle(), new Promise((resolve) => (timer = setTimeout(resolve, timeout)).unref())]);
        clearTimeout(timer);
        await modules.abandon(new ShuttingDownError('The server shut down before the task started.'));
        await runner.drain(Math.max(0, deadline - Date.now()));
        await Promise.all([inline.close(), threads.close()]);
        await tasks.close();
      },
    };
  };
}

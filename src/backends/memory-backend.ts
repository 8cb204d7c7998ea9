import type { Backend, BackendFactory } from '../core/backend.js';
import { InvalidOptionError } from '../core/errors.js';
import { checkKeys, describe } from '../core/options.js';
import type { TaskStore } from '../core/store.js';
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
  const methods = ['create', 'get', 'start', 'progress', 'finish', 'delete', 'watch', 'close'] as const;
  const store = given.store as TaskStore | undefined;
  if (store !== undefined && !methods.every((method) => typeof (store as unknown as Record<string, unknown>)?.[method] === 'function')) {
    throw new InvalidOptionError(`memoryBackend options.store must be a TaskStore (with ${methods.join(', ')}), got ${describe(store)}`);
  }
  return function createMemoryBackend(config): Backend {
    const tasks = store ?? new MemoryStore({ ttl: config.ttl, maxTasks: config.maxTasks });
    const runner = new TaskRunner(tasks, config.onError);
    const inline = new InlineExecutor(config.concurrency);
    const threads = new ThreadPoolExecutor(config.threads, (error) => config.onError(error, undefined));
    return {
      store: tasks,
      runInline(id, job, route) {
        void runner.run(id, job, inline, route.timeout);
      },
      runModule(id, job, route) {
        void runner.run(id, job, threads, route.timeout);
      },
      async close(timeout) {
        await runner.drain(timeout);
        await Promise.all([inline.close(), threads.close()]);
        await tasks.close();
      },
    };
  };
}

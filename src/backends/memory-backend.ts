import type { Backend, BackendFactory } from '../core/backend.js';
import { TaskRunner } from '../core/runner.js';
import { InlineExecutor } from '../executors/inline.js';
import { ThreadPoolExecutor } from '../executors/thread-pool.js';
import { MemoryStore } from '../stores/memory-store.js';

/**
 * Keeps tasks in this process's memory (a `MemoryStore` with the configured `ttl` and
 * `maxTasks`) and runs them here: inline handlers on the event loop, handler modules on
 * a worker-thread pool. The default backend: nothing to install.
 */
export function memoryBackend(): BackendFactory {
  return function createMemoryBackend(config): Backend {
    const store = new MemoryStore({ ttl: config.ttl, maxTasks: config.maxTasks });
    const runner = new TaskRunner(store, config.onError);
    const inline = new InlineExecutor(config.concurrency);
    const threads = new ThreadPoolExecutor(config.threads, (error) => config.onError(error, undefined));
    return {
      store,
      runInline(id, job, route) {
        void runner.run(id, job, inline, route.timeout);
      },
      runModule(id, job, route) {
        void runner.run(id, job, threads, route.timeout);
      },
      async close(timeout) {
        await runner.drain(timeout);
        await Promise.all([inline.close(), threads.close()]);
        await store.close();
      },
    };
  };
}

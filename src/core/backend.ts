import type { Configuration, RouteConfiguration } from './options.js';
import type { ExecutionContext } from './runner.js';
import type { TaskStore } from './store.js';
import type { Reply } from './task.js';

/** A job run in this process: a closure over the request, given its task's context. */
export type InlineJob = (context: ExecutionContext) => Promise<Reply>;

/**
 * Where tasks are kept and where their jobs run. `memoryBackend()` keeps them in this
 * process; other backends may keep them elsewhere and run them on other machines.
 */
export interface Backend {
  readonly store: TaskStore;
  /**
   * Gets the inline job of a task that was just created running in this process, after
   * the current turn of the event loop. `undefined` when this backend cannot run inline
   * jobs; wrapping an inline handler then fails.
   */
  readonly runInline: ((id: string, job: InlineJob, route: RouteConfiguration) => void) | undefined;
  /** Lets live tasks finish for up to `timeout` ms, aborts the rest, then releases everything. */
  close(timeout: number): Promise<void>;
}

/** Builds a backend for a configuration; what the `backend` option takes. */
export type BackendFactory = (config: Configuration<never>) => Backend;

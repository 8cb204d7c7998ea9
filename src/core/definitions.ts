// tasks.define(): tasks submitted from code (a cron job, a queue consumer, a script), which
// need no request. Each runs as a route's task does, on the same backend, and its monitor
// answers for it over HTTP: 200 with its return value as JSON, or its problem.
import type { Backend, CallModuleJob } from './backend.js';
import { checkInput, jsonReply, settleResult, type CodeTaskFunction } from './code-task.js';
import { InvalidArgumentError, InvalidOptionError } from './errors.js';
import type { TaskTrace } from './observer.js';
import { MAX_TIMER_DELAY, checkKeys, describe, resolveWorkerRouteOptions, type RouteOptions, type WorkerRouteConfiguration } from './options.js';
import type { TaskRegistry } from './registry.js';
import { ContextTaskInfo } from './task-info.js';
import { isFinished, type Rerun, type Task } from './task.js';

/** The bytes of a value as JSON (the bound of `maxRerunBytes`); Infinity for one that has none. */
export function jsonSize(value: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? '');
  } catch {
    return Infinity;
  }
}

/**
 * Options of `tasks.define()`: those of a route (`timeout`, `readOnce`, `retries`, and
 * `errorHandler` for its monitor's answers), and `export` for a module.
 */
export interface DefineOptions extends Pick<RouteOptions, 'timeout' | 'readOnce' | 'retries' | 'errorHandler'> {
  /** For a module: the export to call, `(input, task)`. Default `'default'`. */
  export?: string;
}

/** Options of `definition.submit()`. */
export interface SubmitTaskOptions {
  /** The owner: over HTTP, only requests of this owner (the `owner` option) see the task. */
  owner?: string;
}

/** A submitted task: its id, its monitor's URL, and its result to come. */
export interface TaskHandle<Output> {
  readonly id: string;
  /** The monitor's path, `<statusPath>/<id>`, relative to where `tasks.router` is mounted. */
  readonly location: string;
  /**
   * Resolves with the task's return value once it has succeeded; rejects with
   * `TaskFailedError` (its problem), `TaskCanceledError`, `TaskNotFoundError` (it expired, or
   * a read-once answer was read), or `signal`'s reason.
   */
  result(options?: { signal?: AbortSignal }): Promise<Output>;
}

/** A task defined in code: `submit(input)` starts one. */
export interface TaskDefinition<Input, Output> {
  readonly name: string;
  submit(input: Input, options?: SubmitTaskOptions): Promise<TaskHandle<Output>>;
}

/** What a definition needs of the registry it submits to. */
export interface DefinitionContext {
  readonly registry: TaskRegistry;
  readonly backend: Backend;
  readonly statusPath: string;
  readonly maxReplyBytes: number;
  /** The largest input (as JSON) kept with a module task to run it again. */
  readonly maxRerunBytes: number;
  /** Checks a module and its export as `asyncApi.worker()` does; its `file:` URL. */
  readonly checkModule: (module: URL | string, exportName: string) => string;
  /** The route as its failures are answered: with the `errorKey` of its error handler, if one applies (see `RouteConfiguration`). */
  readonly answeredRoute: <R extends WorkerRouteConfiguration>(route: R, name: string) => R;
}

/** Resolves with the task once finished, waiting as long as it takes (or until `signal`). */
async function settledTask(registry: TaskRegistry, id: string, owner: string | undefined, signal: AbortSignal | undefined): Promise<Task> {
  for (;;) {
    signal?.throwIfAborted();
    const task = await registry.settled(id, owner, MAX_TIMER_DELAY, signal);
    if (isFinished(task.status)) return task;
  }
}

export function defineTask<Input, Output>(
  context: DefinitionContext,
  name: string,
  run: CodeTaskFunction<Input, Output> | URL | string,
  options: DefineOptions | undefined,
): TaskDefinition<Input, Awaited<Output>> {
  const { registry, backend, statusPath, maxReplyBytes } = context;
  const { export: exportName, ...rest } = checkKeys(options, ['timeout', 'readOnce', 'retries', 'errorHandler', 'export'], 'define() options') as DefineOptions & Record<string, unknown>;
  if (exportName !== undefined && typeof run === 'function') throw new InvalidOptionError('define() options.export is for a module, not a function');
  const route: WorkerRouteConfiguration = context.answeredRoute(resolveWorkerRouteOptions(exportName === undefined ? rest : { ...rest, export: exportName }), name);
  if (route.retries?.retryOn !== undefined && typeof run !== 'function' && backend.jobData === 'json') {
    throw new InvalidOptionError('define() options.retries.retryOn is a function, which cannot travel to worker processes; with bullmqBackend() the default applies');
  }
  let start: (id: string, input: unknown, trace: TaskTrace | undefined) => void | Promise<void>;
  // A module task's job, kept to run it again when its input is small enough (see maxRerunBytes).
  let rerunOf: (input: unknown) => Rerun | undefined = () => undefined;
  if (typeof run === 'function') {
    const runInline = backend.runInline;
    if (runInline === undefined) {
      throw new InvalidOptionError(`define("${name}") takes a module here: this backend runs tasks on other processes, which a function cannot reach`);
    }
    start = (id, input, trace) =>
      runInline(
        id,
        async (execution) => jsonReply(await run(input as Input, new ContextTaskInfo(execution)), maxReplyBytes),
        route,
        trace,
      );
  } else if (run instanceof URL || typeof run === 'string') {
    const module = context.checkModule(run, route.exportName);
    const jobOf = (input: unknown): CallModuleJob => ({ kind: 'call', module, exportName: route.exportName, input, maxReplyBytes });
    start = (id, input, trace) => backend.runModule(id, jobOf(input), route, trace);
    rerunOf = (input) => (context.maxRerunBytes > 0 && jsonSize(input) <= context.maxRerunBytes ? { job: jobOf(input), route } : undefined);
  } else {
    throw new InvalidArgumentError(`define() takes a function or a module (a file: URL or a path), got ${describe(run)}`);
  }

  return {
    name,
    async submit(input, submitOptions) {
      const owner = submitOptions?.owner;
      if (owner !== undefined && typeof owner !== 'string') throw new InvalidArgumentError(`submit() options.owner must be a string, got ${describe(owner)}`);
      const carried = checkInput(input, typeof run === 'function' ? 'clone' : backend.jobData);
      const { task } = await registry.submit(owner, (id, trace) => start(id, carried, trace), {
        readOnce: route.readOnce,
        ...(route.retries === undefined ? {} : { attempts: route.retries.attempts }),
        route: name,
        rerun: rerunOf(carried),
      });
      const { id } = task;
      return {
        id,
        location: `${statusPath}/${encodeURIComponent(id)}`,
        async result(resultOptions): Promise<Awaited<Output>> {
          const finished = await registry.claim(await settledTask(registry, id, owner, resultOptions?.signal));
          return settleResult(finished) as Awaited<Output>;
        },
      };
    },
  };
}

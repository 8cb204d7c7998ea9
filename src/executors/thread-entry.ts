// Runs inside a worker thread only: piscina loads this file by URL, and nothing imports
// it. For each task it imports the handler module, builds Express's req and res for it
// (thread-express.ts) with the response over a capture, runs the handler, and answers
// with the reply (or the error as plain data), both cloneable.
import { fileURLToPath } from 'node:url';
import { MessageChannel, parentPort, threadId } from 'node:worker_threads';
import { createCapture } from '../capture/capture.js';
import { runHandler, type AnyHandler } from '../capture/run-handler.js';
import { jsonReply, type CodeTaskFunction } from '../core/code-task.js';
import { EffectQueue } from '../core/effect-queue.js';
import { ownProperties } from '../core/error-record.js';
import { HandlerModuleError, fromErrorShape, toErrorShape, type ErrorShape } from '../core/errors.js';
import { checkProgress } from '../core/progress.js';
import type { Reply } from '../core/task.js';
import { displayName } from './module-name.js';
import { traceContextOf } from '../tracing/within.js';
import type { TaskInfo } from '../core/task-info.js';
import { buildRequest, responsePrototype } from './thread-express.js';
import { tag, type DurableCall, type FromThread, type ThreadResult, type ThreadTask, type ToThread } from './thread-messages.js';
import { checkEventName, checkStepName, checkWaitOptions, fromJson, toJson, type WaitOptions } from '../core/durable.js';

// Progress from a CPU loop may come a million times a second; the monitor needs a few.
const PROGRESS_INTERVAL = 20;

const post = (message: FromThread, transfer?: readonly object[]): void => parentPort!.postMessage(message, transfer as never);

// The tasks running on this thread, by id: where an abort goes.
const running = new Map<string, TaskOnThread>();
// The tasks that succeeded here with effects, waiting for the pool's word: was it stored?
const committing = new Map<string, (committed: boolean) => void>();
// The answers awaited from the main thread, by call number.
const calls = new Map<number, { resolve: (message: Extract<ToThread, { type: 'durable' }>) => void }>();
let nextCall = 0;

// This thread's channel for aborts, handed to the pool once.
const { port1: aborts, port2 } = new MessageChannel();
aborts.on('message', (message: ToThread) => {
  if (message.type === 'durable') {
    const call = calls.get(message.call);
    calls.delete(message.call);
    call?.resolve(message);
    return;
  }
  if (message.type === 'abort') {
    running.get(message.taskId)?.abort(fromErrorShape(message.reason));
    return;
  }
  const settle = committing.get(message.taskId);
  committing.delete(message.taskId);
  settle?.(message.type === 'commit');
});
aborts.unref();
post({ [tag]: 'channel', threadId, port: port2 }, [port2]);

const modules = new Map<string, Promise<Record<string, unknown>>>();

async function loadHandler(module: string, exportName: string): Promise<AnyHandler> {
  let loading = modules.get(module);
  if (loading === undefined) {
    loading = import(module) as Promise<Record<string, unknown>>;
    modules.set(module, loading);
    loading.catch(() => modules.delete(module));
  }
  // (Named only when something is wrong with it.)
  const name = (): string => displayName(fileURLToPath(module));
  let exports: Record<string, unknown>;
  try {
    exports = await loading;
  } catch (error) {
    throw new HandlerModuleError(`The handler module ${name()} failed to load: ${(error as Error).message}`, { cause: error });
  }
  let handler = exports[exportName];
  // A CommonJS module compiled from an ES module (by TypeScript or Babel): `exports.default`
  // with `__esModule`. Node's loader gives its whole `module.exports` as the default export;
  // the handler is its `default`, as the compilers' own interop would take it.
  if (exportName === 'default' && typeof handler === 'object' && handler !== null) {
    const compiled = handler as { __esModule?: unknown; default?: unknown };
    if (compiled.__esModule === true && typeof compiled.default === 'function') handler = compiled.default;
  }
  if (typeof handler !== 'function') {
    const found = Object.keys(exports).filter((key) => typeof exports[key] === 'function');
    throw new HandlerModuleError(
      `The handler module ${name()} has no function export "${exportName}"; it exports ${found.length ? found.join(', ') : 'no functions'}.`,
    );
  }
  return handler as AnyHandler;
}

/** A task as its thread runs it: `req.task`, and what an abort stops. */
class TaskOnThread implements TaskInfo {
  readonly id: string;
  #controller: AbortController | undefined;
  #reason: unknown;
  #aborted = false;
  #onAbort: (() => void) | undefined;
  // Progress waiting for its interval, and when the last went out.
  #pending: { fraction: number; message: string | undefined } | undefined;
  #last = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(id: string) {
    this.id = id;
    this.parked = new Promise<void>((resolve) => (this.#park = resolve));
  }

  /** Made on first use: most handlers never look at their signal. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Reports progress, at most every PROGRESS_INTERVAL ms, the latest value last. */
  progress = (fraction: number, message?: string): void => {
    checkProgress(fraction, message);
    this.#pending = { fraction, message };
    if (Date.now() - this.#last >= PROGRESS_INTERVAL) this.#flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#flush(), PROGRESS_INTERVAL);
      this.#timer.unref();
    }
  };

  // The names of this run's steps, and what it awaits from the main thread.
  readonly #steps = new Set<string>();
  /** Resolves when the run parks: a wait whose event has not come, and the run ends here. */
  readonly parked: Promise<void>;
  #park!: () => void;

  /** `fn`'s result: kept from an earlier run of the task (the main thread keeps the record), or `fn` run now and its result kept. */
  step = async <T>(name: string, fn: () => T | Promise<T>): Promise<Awaited<T>> => {
    checkStepName(name);
    if (typeof fn !== 'function') throw new TypeError(`step("${name}") takes a function`);
    if (this.#steps.has(name)) throw new TypeError(`step("${name}") ran already in this run: each step of a task needs a name of its own`);
    this.#steps.add(name);
    const kept = (await this.#ask({ op: 'lookUp', name })).value;
    if (typeof kept === 'string') return fromJson(kept) as Awaited<T>;
    const json = toJson(await fn(), `The result of step "${name}"`);
    await this.#ask({ op: 'keep', name, json });
    return fromJson(json) as Awaited<T>;
  };

  /** The next event named `name` (its value), or `undefined` once `timeout` ms pass. */
  waitForEvent = async (name: string, options?: WaitOptions): Promise<unknown> => {
    checkEventName(name, 'waitForEvent()');
    const answer = await this.#ask({ op: 'await', name, timeout: checkWaitOptions(options) });
    if (answer.parked === true) {
      // The run ends here: this wait never answers (the task runs again, from the top).
      this.#park();
      return new Promise(() => {});
    }
    return typeof answer.value === 'string' ? fromJson(answer.value) : undefined;
  };

  // Asks the main thread, and waits for its answer; rejects with the error it gives.
  async #ask(request: DurableCall): Promise<Extract<ToThread, { type: 'durable' }>> {
    const call = ++nextCall;
    const answer = await new Promise<Extract<ToThread, { type: 'durable' }>>((resolve) => {
      calls.set(call, { resolve });
      post({ [tag]: 'durable', taskId: this.id, call, request });
    });
    if (answer.error !== undefined) throw fromErrorShape(answer.error);
    return answer;
  }

  /** Effects after commit: they wait here until the pool says the task's success was stored. */
  effects: EffectQueue | undefined = undefined;

  afterCommit = (effect: () => unknown): void => {
    if (typeof effect !== 'function') throw new TypeError('afterCommit() takes a function');
    if (!this.#aborted) (this.effects ??= new EffectQueue()).add(effect);
  };

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#onAbort?.();
    this.#controller?.abort(reason);
  }

  whenAborted(listener: () => void): void {
    this.#onAbort = listener;
    if (this.#aborted) listener();
  }

  end(): void {
    clearTimeout(this.#timer);
    // (A run of the task that came after this one, a rewind of a canceled run, is another's.)
    if (running.get(this.id) === this) running.delete(this.id);
  }

  #flush(): void {
    this.#timer = undefined;
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    this.#last = Date.now();
    post({ [tag]: 'progress', taskId: this.id, fraction: pending.fraction, message: pending.message });
  }
}

// A success. With effects after commit, the reply goes first, and the task lasts until the
// pool says whether it was stored, and the effects ran. (Between tasks piscina blocks the
// thread: nothing runs there, so the effects run within their task.)
async function succeeded(task: TaskOnThread, reply: Reply): Promise<ThreadResult> {
  const { effects, id } = task;
  if (effects === undefined) return { ok: true, reply };
  const committed = new Promise<boolean>((resolve) => committing.set(id, resolve));
  post({ [tag]: 'reply', taskId: id, reply });
  if (await committed) await effects.run((error) => post({ [tag]: 'effect-error', taskId: id, error: toErrorShape(error) }));
  return { ok: true, replied: true };
}

// Runs `fn` as it is, or inside a traced job's context.
const untraced = <T>(fn: () => T): T => fn();

// A failure as it crosses back: with the error's own properties when an error handler reads them.
function failed(error: unknown, keepErrors: boolean): ThreadResult {
  const shape: ErrorShape = toErrorShape(error);
  if (keepErrors) {
    const properties = ownProperties(error);
    if (properties !== undefined) shape.properties = properties;
  }
  return { ok: false, error: shape };
}

// The run's end: the handler's, or the park of a wait whose event has not come (the task runs
// again when it comes; the capture closes, as for a client gone, so that nothing of this run
// writes on).
const PARKED: unique symbol = Symbol('parked');

async function untilParked<T>(task: TaskOnThread, run: Promise<T>, onPark?: () => void): Promise<T | typeof PARKED> {
  return Promise.race<T | typeof PARKED>([
    run,
    task.parked.then(() => {
      onPark?.();
      return PARKED;
    }),
  ]);
}

export default async function runThreadTask({ job, taskId, trace, keepErrors }: ThreadTask): Promise<ThreadResult> {
  const task = new TaskOnThread(taskId);
  running.set(taskId, task);
  try {
    const handler = await loadHandler(job.module, job.exportName);
    // Extracted once the module loaded: it may be what registers this thread's SDK.
    const within = (trace === undefined ? undefined : traceContextOf(trace)) ?? untraced;
    if (job.kind === 'call') {
      // A task defined in code: (input, task), and its return value as the answer.
      post({ [tag]: 'started', taskId, threadId });
      const value = await untilParked(task, Promise.resolve(within(() => (handler as unknown as CodeTaskFunction<unknown, unknown>)(job.input, task))));
      if (value === PARKED) return { ok: true, parked: true };
      return await succeeded(task, jsonReply(value, job.maxReplyBytes));
    }
    const prototype = responsePrototype(job.module, job.settings);
    // Running from here: what a thread loads once (the module, Express) is loaded.
    post({ [tag]: 'started', taskId, threadId });
    const req = buildRequest(job.module, job.request, task);
    const { statusCode, headers } = job.response;
    const capture = createCapture(prototype, { req, statusCode, headers, maxBytes: job.maxReplyBytes });
    task.whenAborted(() => capture.abort());
    const reply = await untilParked(task, within(() => runHandler(handler, req, capture)), () => capture.abort());
    if (reply === PARKED) return { ok: true, parked: true };
    return await succeeded(task, reply);
  } catch (error) {
    return failed(error, keepErrors === true);
  } finally {
    task.end();
  }
}

// Runs inside a worker thread only: piscina loads this file by URL, and nothing imports
// it. For each task it imports the handler module, builds Express's req and res for it
// (thread-express.ts) with the response over a capture, runs the handler, and answers
// with the reply (or the error as plain data), both cloneable.
import { fileURLToPath } from 'node:url';
import type { MessagePort } from 'node:worker_threads';
import { createCapture } from '../capture/capture.js';
import { runHandler, type AnyHandler } from '../capture/run-handler.js';
import { HandlerModuleError, fromErrorShape, toErrorShape } from '../core/errors.js';
import { checkProgress } from '../core/progress.js';
import { displayName } from './module-name.js';
import { buildRequest, responsePrototype } from './thread-express.js';
import type { FromThread, ThreadResult, ThreadTask, ToThread } from './thread-messages.js';

// Progress from a CPU loop may come a million times a second; the monitor needs a few.
const PROGRESS_INTERVAL = 20;

const modules = new Map<string, Promise<Record<string, unknown>>>();

async function loadHandler(module: string, exportName: string): Promise<AnyHandler> {
  let loading = modules.get(module);
  if (loading === undefined) {
    loading = import(module) as Promise<Record<string, unknown>>;
    modules.set(module, loading);
    loading.catch(() => modules.delete(module));
  }
  const name = displayName(fileURLToPath(module));
  let exports: Record<string, unknown>;
  try {
    exports = await loading;
  } catch (error) {
    throw new HandlerModuleError(`The handler module ${name} failed to load: ${(error as Error).message}`, { cause: error });
  }
  const handler = exports[exportName];
  if (typeof handler !== 'function') {
    const found = Object.keys(exports).filter((key) => typeof exports[key] === 'function');
    throw new HandlerModuleError(
      `The handler module ${name} has no function export "${exportName}"; it exports ${found.length ? found.join(', ') : 'no functions'}.`,
    );
  }
  return handler as AnyHandler;
}

// Reports progress on the port, at most every PROGRESS_INTERVAL ms, the latest value last.
function progressReporter(port: MessagePort): { report(fraction: number, message?: string): void; stop(): void } {
  let last = 0;
  let pending: FromThread | undefined;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    if (pending === undefined) return;
    port.postMessage(pending);
    pending = undefined;
    last = Date.now();
  };
  return {
    report(fraction, message) {
      checkProgress(fraction, message);
      pending = { type: 'progress', fraction, message };
      if (Date.now() - last >= PROGRESS_INTERVAL) flush();
      else if (timer === undefined) {
        timer = setTimeout(flush, PROGRESS_INTERVAL);
        timer.unref();
      }
    },
    stop: () => clearTimeout(timer),
  };
}

export default async function runThreadTask({ job, taskId, port }: ThreadTask): Promise<ThreadResult> {
  const controller = new AbortController();
  port.on('message', (message: ToThread) => {
    if (message.type === 'abort') controller.abort(fromErrorShape(message.reason));
  });
  const progress = progressReporter(port);
  try {
    const handler = await loadHandler(job.module, job.exportName);
    const prototype = responsePrototype(job.module, job.settings);
    // Running from here: what a thread loads once (the module, Express) is loaded.
    port.postMessage({ type: 'started' } satisfies FromThread);
    const req = buildRequest(job.module, job.request, { id: taskId, signal: controller.signal, progress: progress.report });
    const { statusCode, headers } = job.response;
    const capture = createCapture(prototype, { req, statusCode, headers, maxBytes: job.maxReplyBytes });
    controller.signal.addEventListener('abort', () => capture.abort(), { once: true });
    return { ok: true, reply: await runHandler(handler, req, capture) };
  } catch (error) {
    return { ok: false, error: toErrorShape(error) };
  } finally {
    progress.stop();
    port.close();
  }
}

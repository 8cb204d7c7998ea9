import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { TaskNotFoundError } from '../core/errors.js';
import type { MonitorKind } from '../core/observer.js';
import type { Configuration } from '../core/options.js';
import { problemTypes } from '../core/problem.js';
import type { TaskRegistry } from '../core/registry.js';
import { isFinished, type Task } from '../core/task.js';
import { answerError, answerTask, answerWhenSettled, sendProblem, sendStatusDocument } from './answers.js';
import type { ErrorHandlers } from './error-handler.js';
import { streamTask } from './event-stream.js';
import { parsePrefer, preferredWait } from './prefer.js';
import { monitorLocation } from './location.js';
import { eventKeyOf, eventNameOf, eventOf } from './send-event.js';
import { ownerOf } from './owner.js';

const allowed = 'GET, HEAD, DELETE';

// The id in a monitor path; undefined when its percent-encoding is broken (no task has it).
function decodeId(raw: string): string | undefined {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * The status monitor: `GET`/`HEAD` and `DELETE` on `<statusPath>/<id>`, relative to where
 * it is mounted. Other paths pass through to the next middleware. A `GET` may be held
 * with `Prefer: wait=N` (RFC 7240), or answered as Server-Sent Events when it accepts
 * `text/event-stream`. A failed or canceled task is answered through `errors`, the app's
 * error handlers, when it has any.
 */
export function createStatusRouter(registry: TaskRegistry, config: Configuration<Request>, errors?: ErrorHandlers): RequestHandler {
  const prefix = `${config.statusPath}/`;
  // A live task's answer may come later, and be another, with Prefer: wait.
  const varyByPrefer = { Vary: 'Prefer' };
  const { metrics, tracer } = config;

  // A read of a monitor, for metrics and traces, until its answer is sent or its client gone.
  const observe = (res: Response, kind: MonitorKind, id: string): void => {
    if (metrics === undefined && tracer === undefined) return;
    const endRead = metrics?.monitored(kind);
    const endSpan = tracer?.monitored(kind, id);
    if (endRead === undefined && endSpan === undefined) return;
    res.once('close', () => {
      endRead?.();
      endSpan?.();
    });
  };

  return function asyncApiStatus(req: Request, res: Response, next: NextFunction): void {
    const { path } = req;
    if (!path.startsWith(prefix)) return next();
    const rest = path.endsWith('/') ? path.slice(prefix.length, -1) : path.slice(prefix.length);
    // <id>, or <id>/events/<name> (an event for a waiting task).
    const parts = rest.split('/');
    if (parts.length !== 1 && !(parts.length === 3 && parts[1] === 'events')) return next();
    const raw = parts[0]!;
    const event = parts[2];
    const id = decodeId(raw);
    // Its own URL, as every answer of the task names it (a broken id has none to build).
    let monitor = `${req.baseUrl}${prefix}${raw}`;

    const answer = async (): Promise<void> => {
      if (id === undefined) throw new TaskNotFoundError(raw);
      monitor = monitorLocation(req, config, id);
      const owner = ownerOf(req, config);
      if (event !== undefined) {
        if (req.method !== 'POST') return methodNotAllowed('POST', 'An event is sent with POST.');
        // Scoped to the owner, as a cancel.
        const name = eventNameOf(event);
        const json = await eventOf(req, config.maxEventBytes);
        const task = await registry.sendEvent(id, owner, name, json, config, eventKeyOf(req, name));
        return sendStatusDocument(res, 202, task, monitor);
      }
      if (req.method === 'GET' || req.method === 'HEAD') {
        if (req.method === 'GET' && req.get('accept')?.includes('text/event-stream')) {
          observe(res, 'events', id);
          return streamTask(res, registry, id, owner, monitor, config, errors?.active === true ? errors.replier(req, res, true) : undefined);
        }
        const wait = preferredWait(parsePrefer(req.get('prefer')), config.maxWait);
        observe(res, wait === undefined ? 'poll' : 'wait', id);
        // A GET receives the answer, and takes a read-once one; a HEAD does not, nor a
        // conditional or range GET (its 304 or 206 is not the answer).
        const { range, 'if-none-match': ifNoneMatch, 'if-modified-since': ifModifiedSince } = req.headers;
        const whole = range === undefined && ifNoneMatch === undefined && ifModifiedSince === undefined;
        const claim = req.method === 'GET' && whole ? (task: Task) => registry.claim(task) : undefined;
        const failure = errors?.active === true ? errors.replier(req, res) : undefined;
        if (wait === undefined) {
          let task = await registry.get(id, owner);
          if (claim !== undefined) task = await claim(task);
          return answerTask(res, req, task, monitor, config, isFinished(task.status) ? undefined : varyByPrefer, failure);
        }
        const settled = (timeout: number, signal: AbortSignal) => registry.settled(id, owner, timeout, signal);
        return answerWhenSettled(res, req, settled, wait, monitor, config, { 'Preference-Applied': `wait=${wait}`, Vary: 'Prefer' }, claim, failure);
      }
      if (req.method === 'DELETE') {
        return sendStatusDocument(res, 200, await registry.cancel(id, owner), monitor);
      }
      methodNotAllowed(allowed, `A task monitor answers ${allowed}.`);
    };

    const methodNotAllowed = (methods: string, detail: string): void =>
      sendProblem(
        res,
        { status: 405, type: problemTypes.methodNotAllowed, title: 'Method not allowed', detail, expose: true },
        monitor,
        config,
        { Allow: methods },
      );

    // Unknown, finished, store unreachable: answers about the task. Anything else is the app's.
    answer().catch((error: unknown) => answerError(res, next, error, monitor, config));
  };
}

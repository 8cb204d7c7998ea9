import type { ServerResponse } from 'node:http';
import { replay, setExtraHeaders, type ExtraHeaders, type ReplayRequest } from '../capture/replay.js';
import { AsyncApiError } from '../core/errors.js';
import type { Configuration } from '../core/options.js';
import { canceledProblem, problemFromError, toProblemDocument, type Problem } from '../core/problem.js';
import { toStatusDocument, type Task } from '../core/task.js';
import type { FailureReply } from './error-handler.js';

/** The settings the answers depend on. */
export type AnswerSettings = Pick<Configuration, 'retryAfter' | 'exposeErrors'>;

export type { ExtraHeaders };

// Our own answers describe a moment of a task: never cache them.
function sendText(res: ServerResponse, status: number, type: string, text: string, headers: ExtraHeaders): void {
  setExtraHeaders(res, headers);
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}

// The status document as JSON. A queued task, as every submit answers, has only fields
// that need no escaping (an id the registry made, a status, a date), so it is written
// directly; the date of the last one is reused, as submits come many a millisecond.
let lastCreated = { at: NaN, iso: '' };
function statusJson(task: Task, monitor: string): string {
  if (task.status === 'queued' && task.progress === undefined && task.message === undefined && task.attempts === undefined) {
    if (task.createdAt !== lastCreated.at) lastCreated = { at: task.createdAt, iso: new Date(task.createdAt).toISOString() };
    return `{"id":"${task.id}","status":"queued","createdAt":"${lastCreated.iso}"}`;
  }
  return JSON.stringify(toStatusDocument(task, monitor));
}

/**
 * Answers what went wrong with a submit or a monitor read: the store full, shutting down or
 * unreachable (a 503 with `Retry-After`), or a 4xx of the library (an unknown task, a bad
 * Idempotency-Key) as its problem; anything else is the app's (`next`). If even answering
 * fails (a reply Node refuses), or the head went out already, the connection ends, not the process.
 */
export function answerError(res: ServerResponse, next: (error: unknown) => void, error: unknown, instance: string | undefined, config: AnswerSettings): void {
  try {
    if (res.headersSent) res.destroy();
    else if (error instanceof AsyncApiError && error.status === 503) sendUnavailable(res, error, instance, config);
    else if (error instanceof AsyncApiError && error.status < 500) sendProblem(res, problemFromError(error), instance, config);
    else next(error);
  } catch {
    res.destroy();
  }
}

/** `202 Accepted` with the monitor's `Location`, `Retry-After` and the status document. */
export function sendAccepted(
  res: ServerResponse,
  task: Task,
  monitor: string,
  config: AnswerSettings,
  headers?: ExtraHeaders,
): void {
  res.setHeader('Location', monitor);
  res.setHeader('Retry-After', String(config.retryAfter));
  sendText(res, 202, 'application/json; charset=utf-8', statusJson(task, monitor), headers);
}

/** The status document with a given status (the answer to a cancel). */
export function sendStatusDocument(res: ServerResponse, status: number, task: Task, monitor?: string): void {
  sendText(res, status, 'application/json; charset=utf-8', JSON.stringify(toStatusDocument(task, monitor)), undefined);
}

/** An RFC 9457 problem document. */
export function sendProblem(
  res: ServerResponse,
  problem: Problem,
  instance: string | undefined,
  config: AnswerSettings,
  headers?: ExtraHeaders,
): void {
  const document = toProblemDocument(problem, instance, config.exposeErrors);
  sendText(res, problem.status, 'application/problem+json', JSON.stringify(document), headers);
}

/** A 503 problem (the store is full, unreachable, or shutting down), with `Retry-After`. */
export function sendUnavailable(res: ServerResponse, error: AsyncApiError, instance: string | undefined, config: AnswerSettings): void {
  sendProblem(res, problemFromError(error), instance, config, { 'Retry-After': String(config.retryAfter) });
}

/**
 * Answers `request` with what a task is now: 202 and its status document while it is
 * live, its replayed reply once it succeeded (conditional and `Range` requests apply), a
 * problem document once it failed or was canceled; with `failure` (the app's error
 * handler), what that answers instead, replayed as a reply is, unless it passed the error on.
 */
export function answerTask(
  res: ServerResponse,
  request: ReplayRequest,
  task: Task,
  monitor: string,
  config: AnswerSettings,
  headers?: ExtraHeaders,
  failure?: FailureReply,
): void | Promise<void> {
  switch (task.status) {
    case 'queued':
    case 'running':
      return sendAccepted(res, task, monitor, config, headers);
    case 'succeeded':
      return replay(res, task.reply!, request, headers);
    case 'failed':
      if (failure !== undefined) return answerFailure(res, request, task, monitor, config, headers, failure);
      return sendProblem(res, task.problem!, monitor, config, headers);
    case 'canceled':
      if (failure !== undefined) return answerFailure(res, request, task, monitor, config, headers, failure);
      return sendProblem(res, canceledProblem, monitor, config, headers);
  }
}

async function answerFailure(
  res: ServerResponse,
  request: ReplayRequest,
  task: Task,
  monitor: string,
  config: AnswerSettings,
  headers: ExtraHeaders,
  failure: FailureReply,
): Promise<void> {
  const reply = await failure(task);
  if (reply !== undefined) replay(res, reply, request, headers);
  else sendProblem(res, task.problem ?? canceledProblem, monitor, config, headers);
}

/**
 * For `Prefer: wait=N`: answers with the task once it has ended, or as it is after `wait`
 * seconds, with `headers`; nothing when the client went away meanwhile.
 */
export async function answerWhenSettled(
  res: ServerResponse,
  request: ReplayRequest,
  settled: (timeout: number, signal: AbortSignal) => Promise<Task>,
  wait: number,
  monitor: string,
  config: AnswerSettings,
  headers: ExtraHeaders,
  claim?: (task: Task) => Promise<Task>,
  failure?: FailureReply,
): Promise<void> {
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  let task = await settled(wait * 1000, gone.signal);
  if (gone.signal.aborted) return;
  // A read-once answer is taken only by a reader still there to receive it.
  if (claim !== undefined) task = await claim(task);
  await answerTask(res, request, task, monitor, config, headers, failure);
}

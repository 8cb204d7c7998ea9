import type { ServerResponse } from 'node:http';
import type { Configuration } from '../core/options.js';
import { toProblemDocument, type Problem } from '../core/problem.js';
import { toStatusDocument, type Reply, type Task } from '../core/task.js';

// Our own answers describe a moment of a task: never cache them.
function sendJson(res: ServerResponse, status: number, type: string, body: unknown): void {
  sendText(res, status, type, JSON.stringify(body));
}

function sendText(res: ServerResponse, status: number, type: string, text: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}

/** `202 Accepted` with the monitor's `Location`, `Retry-After` and the status document. */
export function sendAccepted(res: ServerResponse, task: Task, monitor: string, config: Configuration<never>): void {
  res.setHeader('Location', monitor);
  res.setHeader('Retry-After', String(config.retryAfter));
  sendText(res, 202, 'application/json; charset=utf-8', statusJson(task));
}

// The status document as JSON. A queued task, as every submit answers, has only fields
// that need no escaping (a uuid, a status, a date), so it is written directly.
function statusJson(task: Task): string {
  if (task.status === 'queued' && task.progress === undefined && task.message === undefined && /^[\w-]+$/.test(task.id)) {
    return `{"id":"${task.id}","status":"queued","createdAt":"${new Date(task.createdAt).toISOString()}"}`;
  }
  return JSON.stringify(toStatusDocument(task));
}

/** The status document with a given status (the answer to a cancel). */
export function sendStatusDocument(res: ServerResponse, status: number, task: Task): void {
  sendJson(res, status, 'application/json; charset=utf-8', toStatusDocument(task));
}

/** An RFC 9457 problem document. */
export function sendProblem(
  res: ServerResponse,
  problem: Problem,
  instance: string | undefined,
  config: Configuration<never>,
  headers?: Record<string, string>,
): void {
  if (headers !== undefined) for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  sendJson(res, problem.status, 'application/problem+json', toProblemDocument(problem, instance, config.exposeErrors));
}

/** Replays a recorded reply: its status, its headers (over any the app set), its body. */
export function sendReply(res: ServerResponse, reply: Reply): void {
  res.statusCode = reply.status;
  const { headers } = reply;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    // The first occurrence replaces what the app set; later ones (set-cookie) add to it.
    if (headers.indexOf(name) === i) res.setHeader(name, value);
    else res.appendHeader(name, value);
  }
  res.end(reply.body);
}

// Tasks defined in code (`tasks.define()`): a function called with its input and its task,
// whose return value is the task's answer, kept as a JSON reply so that the monitor answers
// for it over HTTP as for a route's task.
import { InvalidArgumentError, InvalidResultError, ReplyTooLargeError, TaskCanceledError } from './errors.js';
import type { ProblemDocument } from './problem.js';
import { replyHeader, type Reply, type Task } from './task.js';
import type { TaskInfo } from './task-info.js';

/** What a task defined in code learns of its task, as its second argument: a `TaskInfo`. */
export type CodeTaskInfo = TaskInfo;

/** The function of a task defined in code. */
export type CodeTaskFunction<Input, Output> = (input: Input, task: CodeTaskInfo) => Output | Promise<Output>;

/** A return value as the task's answer: `200` and its JSON, or `204` for `undefined`. */
export function jsonReply(value: unknown, maxBytes: number): Reply {
  if (value === undefined) return { status: 204, headers: [], body: undefined };
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new InvalidResultError(`The task returned a ${typeof value}, which cannot be sent as JSON; return a JSON value.`);
  }
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new InvalidResultError(`The task's return value cannot be sent as JSON: ${(error as Error).message}`, { cause: error });
  }
  const length = Buffer.byteLength(json);
  if (length > maxBytes) throw new ReplyTooLargeError(maxBytes);
  return { status: 200, headers: ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(length)], body: json };
}

/** The value a succeeded task's JSON reply holds (`undefined` for none). */
export function valueOf(reply: Reply): unknown {
  const { body } = reply;
  if (body === undefined) return undefined;
  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (text === '') return undefined;
  const type = replyHeader(reply, 'content-type');
  if (type !== undefined && !/json/i.test(type)) return text;
  return JSON.parse(text) as unknown;
}

/**
 * A task that failed, as `handle.result()` rejects with it: the problem the task ended with
 * (its `status`, `type`, `title`, and `detail` where the error exposed one).
 */
export class TaskFailedError extends Error {
  readonly status: number;
  readonly problem: ProblemDocument;
  constructor(problem: ProblemDocument) {
    super(problem.detail ?? problem.title);
    this.name = 'TaskFailedError';
    this.status = problem.status;
    this.problem = problem;
  }
}

/**
 * How `handle.result()` ends for a finished task: its value, or why not. The caller is the
 * server's own code: the problem keeps its detail, whatever `exposeErrors` says of clients.
 */
export function settleResult(task: Task): unknown {
  if (task.status === 'succeeded') return valueOf(task.reply!);
  if (task.status === 'canceled') throw new TaskCanceledError();
  const problem = task.problem ?? { status: 500, type: 'about:blank', title: 'Internal Server Error', detail: undefined, expose: false };
  const document: ProblemDocument = { type: problem.type, title: problem.title, status: problem.status };
  if (problem.detail !== undefined) document.detail = problem.detail;
  throw new TaskFailedError(document);
}

/**
 * Checks an input as its job will carry it, so that a bad one is refused at `submit()`:
 * `'clone'`, what the structured clone algorithm takes (a copy is returned: later changes of
 * the caller's object do not reach the task); `'json'`, plain JSON (no functions, `undefined`
 * in objects, BigInt, cycles, class instances other than arrays and dates… it must come back
 * the same).
 */
export function checkInput(input: unknown, carriedAs: 'clone' | 'json'): unknown {
  if (carriedAs === 'clone') {
    try {
      return structuredClone(input);
    } catch (error) {
      throw new InvalidArgumentError(`submit() takes an input that can be cloned to a worker thread: ${(error as Error).message}`);
    }
  }
  const path = notJson(input, '$', new Set());
  if (path !== undefined) throw new InvalidArgumentError(`submit() takes an input that is plain JSON (it is queued as JSON); ${path}`);
  return JSON.parse(JSON.stringify(input) ?? 'null') as unknown;
}

// Where a value stops being plain JSON, as a message; undefined when it is.
function notJson(value: unknown, at: string, seen: Set<object>): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${at} is ${value}`;
  if (typeof value !== 'object') return `${at} is a ${typeof value}`;
  if (seen.has(value)) return `${at} is a cycle`;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return `${at} is a ${(value as object).constructor?.name ?? 'class instance'}`;
  seen.add(value);
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined && !Array.isArray(value)) return `${at}.${key} is undefined`;
    const found = notJson(item, Array.isArray(value) ? `${at}[${key}]` : `${at}.${key}`, seen);
    if (found !== undefined) return found;
  }
  seen.delete(value);
  return undefined;
}

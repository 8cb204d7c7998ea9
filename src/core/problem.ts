import { STATUS_CODES } from 'node:http';
import { errorFromRecord, errorRecord, libraryErrorName, type ErrorRecord } from './error-record.js';

/**
 * Why a task failed, as kept with the task. `detail` holds the error's message;
 * whether a client sees it is decided when the problem is answered (see `expose`).
 */
export interface Problem {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** The message may be shown to clients (4xx errors, and errors that say so). */
  readonly expose: boolean;
  /**
   * The error itself, for the app's error handler (the `errorHandler` option), when one answers
   * the task's failures: a bounded record, never its stack. Absent otherwise.
   */
  readonly error?: ErrorRecord;
}

/** An RFC 9457 problem details document. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
}

/**
 * Problem types of this library's own answers. Handler errors use `about:blank`,
 * whose title is the HTTP status phrase (RFC 9457 §4.2.1).
 */
export const problemTypes = {
  taskNotFound: 'urn:express-async-api:task-not-found',
  taskFinished: 'urn:express-async-api:task-finished',
  taskCanceled: 'urn:express-async-api:task-canceled',
  taskTimedOut: 'urn:express-async-api:task-timed-out',
  taskLimit: 'urn:express-async-api:task-limit',
  shuttingDown: 'urn:express-async-api:shutting-down',
  methodNotAllowed: 'urn:express-async-api:method-not-allowed',
  handlerModule: 'urn:express-async-api:handler-module',
  workerCrashed: 'urn:express-async-api:worker-crashed',
  transfer: 'urn:express-async-api:transfer',
  invalidResult: 'urn:express-async-api:invalid-result',
  storeUnavailable: 'urn:express-async-api:store-unavailable',
  replyTooLarge: 'urn:express-async-api:reply-too-large',
  unsupportedResponseMethod: 'urn:express-async-api:unsupported-response-method',
  noWorker: 'urn:express-async-api:no-worker',
  idempotencyKey: 'urn:express-async-api:idempotency-key',
  idempotencyKeyReused: 'urn:express-async-api:idempotency-key-reused',
  invalidQuery: 'urn:express-async-api:invalid-query',
  forbidden: 'urn:express-async-api:forbidden',
  notRerunnable: 'urn:express-async-api:not-rerunnable',
  eventLimit: 'urn:express-async-api:event-limit',
  invalidEvent: 'urn:express-async-api:invalid-event',
  payloadTooLarge: 'urn:express-async-api:payload-too-large',
  unsupportedMediaType: 'urn:express-async-api:unsupported-media-type',
} as const;

const typeByCode: Partial<Record<string, string>> = {
  ERR_TASK_NOT_FOUND: problemTypes.taskNotFound,
  ERR_TASK_FINISHED: problemTypes.taskFinished,
  ERR_TASK_CANCELED: problemTypes.taskCanceled,
  ERR_TASK_TIMEOUT: problemTypes.taskTimedOut,
  ERR_TASK_LIMIT: problemTypes.taskLimit,
  ERR_SHUTTING_DOWN: problemTypes.shuttingDown,
  ERR_HANDLER_MODULE: problemTypes.handlerModule,
  ERR_WORKER_CRASHED: problemTypes.workerCrashed,
  ERR_TRANSFER: problemTypes.transfer,
  ERR_INVALID_RESULT: problemTypes.invalidResult,
  ERR_STORE_UNAVAILABLE: problemTypes.storeUnavailable,
  ERR_REPLY_TOO_LARGE: problemTypes.replyTooLarge,
  ERR_UNSUPPORTED_RESPONSE_METHOD: problemTypes.unsupportedResponseMethod,
  ERR_NO_WORKER: problemTypes.noWorker,
  ERR_IDEMPOTENCY_KEY: problemTypes.idempotencyKey,
  ERR_IDEMPOTENCY_KEY_REUSED: problemTypes.idempotencyKeyReused,
  ERR_INVALID_QUERY: problemTypes.invalidQuery,
  ERR_FORBIDDEN: problemTypes.forbidden,
  ERR_NOT_RERUNNABLE: problemTypes.notRerunnable,
  ERR_EVENT_LIMIT: problemTypes.eventLimit,
  ERR_INVALID_EVENT: problemTypes.invalidEvent,
  ERR_PAYLOAD_TOO_LARGE: problemTypes.payloadTooLarge,
  ERR_UNSUPPORTED_MEDIA_TYPE: problemTypes.unsupportedMediaType,
};

/** The HTTP status an error asks for: its `status` or `statusCode` when 400–599, else 500. */
export function statusOf(error: unknown): number {
  if (typeof error === 'object' && error !== null) {
    const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
    const candidate = typeof status === 'number' ? status : statusCode;
    if (Number.isInteger(candidate) && (candidate as number) >= 400 && (candidate as number) <= 599) {
      return candidate as number;
    }
  }
  return 500;
}

/**
 * Turns whatever a handler threw (or passed to `next`) into the problem its task fails with;
 * with `errorKey` (its route's: an error handler answers it), with the error's record too.
 */
export function problemFromError(error: unknown, errorKey?: number): Problem {
  const problem = problemOf(error);
  if (errorKey === undefined) return problem;
  let record: ErrorRecord;
  try {
    record = errorRecord(error, errorKey);
  } catch {
    // An error whose getters throw: the task still fails, with what its problem says.
    record = { name: 'Error', message: problem.detail ?? '', ...(errorKey === 0 ? {} : { handler: errorKey }) };
  }
  return { ...problem, error: record };
}

function problemOf(error: unknown): Problem {
  const status = statusOf(error);
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : undefined;
  const { expose: declared, syscall } = (error ?? {}) as { expose?: unknown; syscall?: unknown };
  // A system error's message names the server's files (ENOENT … '/srv/app/…'), whatever its status.
  const expose = typeof syscall === 'string' ? false : typeof declared === 'boolean' ? declared : status < 500;
  // By code rather than class: errors that crossed a thread or process boundary keep theirs.
  const { code, title } = (error ?? {}) as { code?: unknown; title?: unknown };
  const type = typeof code === 'string' ? typeByCode[code] : undefined;
  if (type !== undefined && typeof title === 'string') return { status, type, title, detail: message, expose };
  return { status, type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', detail: message, expose };
}

// The codes of the library's problem types.
const codeByType = new Map(Object.entries(typeByCode).map(([code, type]) => [type!, code]));

/**
 * The error a problem was made from, for the app's error handler: rebuilt from its record, or,
 * for a problem kept without one, from the problem itself (its status, its detail as the
 * message, and for the library's own failures their code and class).
 */
export function errorOfProblem(problem: Problem): Error {
  if (problem.error !== undefined) return errorFromRecord(problem.error);
  const code = codeByType.get(problem.type);
  const record: { -readonly [K in keyof ErrorRecord]: ErrorRecord[K] } = {
    name: libraryErrorName(code) ?? 'Error',
    message: problem.detail ?? '',
    status: problem.status,
    expose: problem.expose,
  };
  if (code !== undefined) {
    record.code = code;
    record.properties = { title: problem.title };
  }
  return errorFromRecord(record);
}

/** The problem of a canceled task. */
export const canceledProblem: Problem = {
  status: 409,
  type: problemTypes.taskCanceled,
  title: 'Task canceled',
  detail: 'The task was canceled before it finished.',
  expose: true,
};

/** The RFC 9457 document for a problem; `detail` only when it may be shown. */
export function toProblemDocument(problem: Problem, instance: string | undefined, exposeErrors: boolean): ProblemDocument {
  const document: ProblemDocument = { type: problem.type, title: problem.title, status: problem.status };
  if (problem.detail !== undefined && (problem.expose || exposeErrors)) document.detail = problem.detail;
  if (instance !== undefined) document.instance = instance;
  return document;
}

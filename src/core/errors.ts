/**
 * The errors this library throws. Each has a stable `code` and, following the
 * http-errors convention, the HTTP `status` it answers with; `expose` says whether its
 * message may be shown to clients. Exposure is opt-in, class by class: a message that
 * may carry what the server wrote (a handler's property names, a module's path, a
 * limit) stays in the server's log, and a client sees the problem's type and title.
 * The 4xx errors, whose messages are the library's own words about the request, expose.
 */
export class AsyncApiError extends Error {
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;
  /** A short, fixed summary of the kind of problem (the problem document's `title`). */
  readonly title: string;

  constructor(
    message: string,
    details: { code: string; status: number; title: string; expose?: boolean },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = details.code;
    this.status = details.status;
    this.title = details.title;
    this.expose = details.expose ?? false;
  }
}

/** An option given to `createAsyncApi()` or to a route is not valid. */
export class InvalidOptionError extends AsyncApiError {
  constructor(message: string) {
    super(message, { code: 'ERR_INVALID_OPTION', status: 500, title: 'Invalid option' });
  }
}

/** A function of this library was called with an argument it cannot take. */
export class InvalidArgumentError extends AsyncApiError {
  constructor(message: string) {
    super(message, { code: 'ERR_INVALID_ARGUMENT', status: 500, title: 'Invalid argument' });
  }
}

/** A query of a list of tasks (`TaskStore.list()`, the dashboard's API) is not valid. */
export class InvalidQueryError extends AsyncApiError {
  constructor(message: string) {
    super(message, { code: 'ERR_INVALID_QUERY', status: 400, title: 'Invalid query', expose: true });
  }
}

/** The dashboard refused a request: not authorized, read-only, or a mutation from another site. */
export class ForbiddenError extends AsyncApiError {
  constructor(message: string) {
    super(message, { code: 'ERR_FORBIDDEN', status: 403, title: 'Forbidden', expose: true });
  }
}

/** A task cannot be run again: its job was not kept (an inline handler's, or a large one). */
export class NotRerunnableError extends AsyncApiError {
  readonly taskId: string;
  constructor(taskId: string, message: string) {
    super(message, { code: 'ERR_NOT_RERUNNABLE', status: 409, title: 'Task cannot be run again', expose: true });
    this.taskId = taskId;
  }
}

/** An event for a task that holds as many as it may keep (`maxEvents`). */
export class EventLimitError extends AsyncApiError {
  readonly taskId: string;
  constructor(taskId: string, maxEvents: number) {
    super(`The task holds ${maxEvents} events, as many as it may keep (maxEvents); it takes no more.`, { code: 'ERR_EVENT_LIMIT', status: 409, title: 'Too many events', expose: true });
    this.taskId = taskId;
  }
}

/** An event that is not one: its body is not JSON, or its name is not a name. */
export class InvalidEventError extends AsyncApiError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, { code: 'ERR_INVALID_EVENT', status: 400, title: 'Invalid event', expose: true }, options);
  }
}

/** A request body larger than the library takes (an event past `maxEventBytes`). */
export class PayloadTooLargeError extends AsyncApiError {
  constructor(limit: number) {
    super(`The body is larger than ${limit} bytes (maxEventBytes).`, { code: 'ERR_PAYLOAD_TOO_LARGE', status: 413, title: 'Payload too large', expose: true });
  }
}

/** A request body of a type the library does not take (an event is `application/json`). */
export class UnsupportedMediaTypeError extends AsyncApiError {
  constructor(message: string) {
    super(message, { code: 'ERR_UNSUPPORTED_MEDIA_TYPE', status: 415, title: 'Unsupported media type', expose: true });
  }
}

/** No task has this id, it expired, or it belongs to another owner. */
export class TaskNotFoundError extends AsyncApiError {
  readonly taskId: string;
  constructor(taskId: string) {
    super('No task has this id; finished tasks are kept only for a limited time.', {
      code: 'ERR_TASK_NOT_FOUND',
      status: 404,
      title: 'Task not found',
      expose: true,
    });
    this.taskId = taskId;
  }
}

/** The task has already finished, so it cannot be canceled. */
export class TaskFinishedError extends AsyncApiError {
  readonly taskId: string;
  constructor(taskId: string, status: string, only = 'only queued and running tasks can be canceled') {
    super(`The task has already finished (${status}); ${only}.`, {
      code: 'ERR_TASK_FINISHED',
      status: 409,
      title: 'Task already finished',
      expose: true,
    });
    this.taskId = taskId;
  }
}

/** The store holds as many tasks as it may (`maxTasks`); nothing was registered. */
export class TaskLimitError extends AsyncApiError {
  constructor(limit: number) {
    super(`The server holds its maximum of ${limit} tasks; try again later.`, {
      code: 'ERR_TASK_LIMIT',
      status: 503,
      title: 'Too many tasks',
    });
  }
}

/** The `Idempotency-Key` header is malformed, longer than 255 characters, or missing where the route requires it. */
export class IdempotencyKeyError extends AsyncApiError {
  constructor(message: string) {
    super(message, { code: 'ERR_IDEMPOTENCY_KEY', status: 400, title: 'Invalid Idempotency-Key', expose: true });
  }
}

/** The `Idempotency-Key` was used before, by this owner on this route, for another request. */
export class IdempotencyKeyReusedError extends AsyncApiError {
  constructor() {
    super('This Idempotency-Key was used for another request (method, path or body); use a new key for a new request.', {
      code: 'ERR_IDEMPOTENCY_KEY_REUSED',
      status: 422,
      title: 'Idempotency-Key reused',
      expose: true,
    });
  }
}

/** `close()` has begun: no new tasks are accepted, and tasks still live at its deadline end with this. */
export class ShuttingDownError extends AsyncApiError {
  constructor(message = 'The server is shutting down and accepts no new tasks.') {
    super(message, { code: 'ERR_SHUTTING_DOWN', status: 503, title: 'Shutting down' });
  }
}

/** The task was canceled (`DELETE` on its monitor). This is its signal's `reason`. */
export class TaskCanceledError extends AsyncApiError {
  constructor() {
    super('The task was canceled.', { code: 'ERR_TASK_CANCELED', status: 409, title: 'Task canceled', expose: true });
  }
}

/** The task ran longer than its route's `timeout`. This is its signal's `reason`. */
export class TaskTimeoutError extends AsyncApiError {
  readonly timeout: number;
  constructor(timeout: number) {
    super(`The task did not finish within its timeout of ${timeout} ms.`, {
      code: 'ERR_TASK_TIMEOUT',
      status: 504,
      title: 'Task timed out',
    });
    this.timeout = timeout;
  }
}

/** The handler called a response method that cannot be recorded for replay. */
export class UnsupportedResponseMethodError extends AsyncApiError {
  readonly method: string;
  constructor(method: string, why: string) {
    super(`res.${method}() is not supported in an async task: ${why}`, {
      code: 'ERR_UNSUPPORTED_RESPONSE_METHOD',
      status: 500,
      title: 'Unsupported response method',
    });
    this.method = method;
  }
}

/** The handler called `next()` without an error: as in Express with no later route, that is a 404. */
export class NoResponseError extends AsyncApiError {
  constructor() {
    super('The handler passed the request on with next() and wrote no response.', {
      code: 'ERR_NO_RESPONSE',
      status: 404,
      title: 'Not Found',
      expose: true,
    });
  }
}

/** A handler module cannot be used: there is no such file, or no such export, or it failed to load. */
export class HandlerModuleError extends AsyncApiError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, { code: 'ERR_HANDLER_MODULE', status: 500, title: 'Handler module error' }, options);
  }
}

/** The worker thread running the task stopped: it exited, threw outside the handler, or ran out of memory. */
export class WorkerCrashedError extends AsyncApiError {
  constructor(message: string, options?: ErrorOptions) {
    super(`The worker thread running the task stopped: ${message}`, {
      code: 'ERR_WORKER_CRASHED',
      status: 500,
      title: 'Worker thread failed',
    }, options);
  }
}

/**
 * No worker took the task within its route's `queueTimeout` (BullMQ: no worker process ran
 * for the queue, or all were busy): it failed without running.
 */
export class NoWorkerError extends AsyncApiError {
  constructor(queueTimeout: number) {
    super(`No worker took the task within ${queueTimeout} ms.`, { code: 'ERR_NO_WORKER', status: 503, title: 'No worker took the task' });
  }
}

/** Something the task needs could not be passed to, or back from, where it runs (it is not cloneable). */
export class TransferError extends AsyncApiError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, { code: 'ERR_TRANSFER', status: 500, title: 'Cannot pass the task to its worker' }, options);
  }
}

/** The handler returned a value that cannot be sent as JSON (a function, a cycle…). */
export class InvalidResultError extends AsyncApiError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, { code: 'ERR_INVALID_RESULT', status: 500, title: 'Invalid handler result' }, options);
  }
}

/** The handler's reply is larger than `maxReplyBytes`: replies are held in memory (or Redis) until read. */
export class ReplyTooLargeError extends AsyncApiError {
  readonly limit: number;
  constructor(limit: number) {
    super(`The handler's reply is larger than maxReplyBytes (${limit} bytes); return a link to the data instead.`, {
      code: 'ERR_REPLY_TOO_LARGE',
      status: 500,
      title: 'Reply too large',
    });
    this.limit = limit;
  }
}

/** An error as plain data, to cross a thread or process boundary. */
export interface ErrorShape {
  name: string;
  message: string;
  status?: number;
  statusCode?: number;
  code?: string;
  expose?: boolean;
  title?: string;
  /** Its other own properties that are plain JSON, when an error handler will read them (see `ownProperties`). */
  properties?: Record<string, unknown>;
}

/** The parts of an error that its problem document is made of, as plain data. */
export function toErrorShape(error: unknown): ErrorShape {
  if (!(error instanceof Error)) return { name: 'Error', message: typeof error === 'string' ? error : String(error) };
  const { status, statusCode, code, expose, title } = error as Partial<Record<keyof ErrorShape, unknown>>;
  const shape: ErrorShape = { name: error.name, message: error.message };
  if (typeof status === 'number') shape.status = status;
  if (typeof statusCode === 'number') shape.statusCode = statusCode;
  if (typeof code === 'string') shape.code = code;
  if (typeof expose === 'boolean') shape.expose = expose;
  if (typeof title === 'string') shape.title = title;
  return shape;
}

/** An Error from its shape; it answers with the same problem document as the original, and has its properties. */
export function fromErrorShape(shape: ErrorShape): Error {
  const error = new Error(shape.message);
  const { message: _message, properties, ...rest } = shape;
  if (properties !== undefined) Object.assign(error, properties);
  return Object.assign(error, rest);
}

/** The task store (Redis) cannot be reached. Nothing was changed; the request may be retried. */
export class StoreUnavailableError extends AsyncApiError {
  constructor(options?: ErrorOptions) {
    super('The task store cannot be reached; try again shortly.', {
      code: 'ERR_STORE_UNAVAILABLE',
      status: 503,
      title: 'Task store unavailable',
    }, options);
  }
}

// The error a task failed with, kept beside its problem for the app's own error handler
// (the `errorHandler` option), which reads it later, in whichever web process answers: plain
// JSON, bounded, never a stack. It is made only for a task whose failures an error handler
// answers (its route's `errorKey`), so that an app without one pays nothing.
import {
  AsyncApiError,
  HandlerModuleError,
  InvalidResultError,
  NoResponseError,
  NoWorkerError,
  ReplyTooLargeError,
  ShuttingDownError,
  StoreUnavailableError,
  TaskCanceledError,
  TaskTimeoutError,
  TransferError,
  UnsupportedResponseMethodError,
  WorkerCrashedError,
} from './errors.js';

/**
 * An error as a task keeps it for the app's error handler (`Problem.error`): what the error
 * middleware of an API reads, `name`, `message`, `status`/`statusCode`, `code` and `expose`,
 * and the error's other own properties that JSON keeps as they are. At most
 * `MAX_ERROR_RECORD_BYTES` as JSON; never a stack.
 */
export interface ErrorRecord {
  readonly name: string;
  readonly message: string;
  readonly status?: number;
  readonly statusCode?: number;
  readonly code?: string;
  readonly expose?: boolean;
  /** The error's other own enumerable properties whose values are plain JSON, in their order. */
  readonly properties?: Readonly<Record<string, unknown>>;
  /**
   * Which error handler answers it, as the web layer numbered them (its route's `errorKey`);
   * absent for the app's global one (0).
   */
  readonly handler?: number;
}

/** The most bytes an error record takes as JSON: past it, properties are left out, then the message cut. */
export const MAX_ERROR_RECORD_BYTES = 4096;

// A property value deeper than this is left out: Redis's Lua decodes a task's JSON, and its
// decoder refuses deep nesting.
const MAX_DEPTH = 16;
// A property value of more items than could fit in a record is not walked to its end.
const MAX_ITEMS = MAX_ERROR_RECORD_BYTES / 2;
// Names and codes are labels: longer ones are cut.
const MAX_LABEL = 256;

// The fields a record has of its own; the rest of an error's properties are `properties`.
const ownFields = new Set(['name', 'message', 'stack', 'status', 'statusCode', 'code', 'expose']);

// Whether JSON keeps `value` as it is: null, strings, booleans, finite numbers, and arrays
// and plain objects of those, not too deep nor too many (no class instances, `undefined`, cycles).
function plainJson(value: unknown, depth: number, budget: { items: number }): boolean {
  if (--budget.items < 0) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || depth === MAX_DEPTH) return false;
  if (Array.isArray(value)) return value.every((item) => plainJson(item, depth + 1, budget));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (item === undefined || !plainJson(item, depth + 1, budget)) return false;
  }
  return true;
}

/**
 * The own enumerable properties of `error` that a record keeps (`properties`): those that are
 * plain JSON, but the fields a record has of its own. `undefined` when there are none.
 */
export function ownProperties(error: unknown): Record<string, unknown> | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  let properties: Record<string, unknown> | undefined;
  for (const key of Object.keys(error)) {
    if (ownFields.has(key)) continue;
    const value = (error as Record<string, unknown>)[key];
    if (value !== undefined && plainJson(value, 0, { items: MAX_ITEMS })) (properties ??= {})[key] = value;
  }
  return properties;
}

const clip = (text: string): string => (text.length > MAX_LABEL ? text.slice(0, MAX_LABEL) : text);

/**
 * The record of whatever a handler threw (or passed to `next`), for the handler numbered
 * `handler` (0: the global one): a fresh plain object, which shares nothing with the error.
 */
export function errorRecord(error: unknown, handler = 0): ErrorRecord {
  const source = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>;
  const name = typeof source.name === 'string' ? source.name : 'Error';
  const message = typeof source.message === 'string' ? source.message : typeof error === 'string' ? error : error instanceof Object ? '' : String(error);
  const record: { -readonly [K in keyof ErrorRecord]: ErrorRecord[K] } = { name: clip(name), message };
  const { status, statusCode, code, expose } = source;
  if (typeof status === 'number') record.status = status;
  if (typeof statusCode === 'number') record.statusCode = statusCode;
  if (typeof code === 'string') record.code = clip(code);
  if (typeof expose === 'boolean') record.expose = expose;
  if (handler !== 0) record.handler = handler;
  let json = JSON.stringify(record);
  if (Buffer.byteLength(json) > MAX_ERROR_RECORD_BYTES) {
    // A message this long is cut to the longest start that fits (no more characters than
    // bytes), and nothing else is added.
    let fits = 0;
    let over = Math.min(message.length, MAX_ERROR_RECORD_BYTES) + 1;
    while (over - fits > 1) {
      const middle = (fits + over) >>> 1;
      record.message = message.slice(0, middle);
      if (Buffer.byteLength(JSON.stringify(record)) <= MAX_ERROR_RECORD_BYTES) fits = middle;
      else over = middle;
    }
    record.message = message.slice(0, fits);
    // A copy: a slice would keep the whole message alive.
    return JSON.parse(JSON.stringify(record)) as ErrorRecord;
  }
  // Each property that still fits, in order; one too large is left out.
  const properties = ownProperties(source);
  if (properties !== undefined) {
    // The record's JSON without its closing brace, then `,"properties":{` … `}}`.
    let room = MAX_ERROR_RECORD_BYTES - Buffer.byteLength(json) - '"properties":{},'.length;
    let body = '';
    for (const key of Object.keys(properties)) {
      const entry = `${body === '' ? '' : ','}${JSON.stringify(key)}:${JSON.stringify(properties[key])}`;
      const size = Buffer.byteLength(entry);
      if (size > room) continue;
      body += entry;
      room -= size;
    }
    if (body !== '') json = `${json.slice(0, -1)},"properties":{${body}}}`;
  }
  return JSON.parse(json) as ErrorRecord;
}

// The library's errors by code: a record of one is rebuilt as an instance of its class.
const libraryErrors: Partial<Record<string, new (...args: never[]) => AsyncApiError>> = {
  ERR_TASK_CANCELED: TaskCanceledError,
  ERR_TASK_TIMEOUT: TaskTimeoutError,
  ERR_SHUTTING_DOWN: ShuttingDownError,
  ERR_HANDLER_MODULE: HandlerModuleError,
  ERR_WORKER_CRASHED: WorkerCrashedError,
  ERR_NO_WORKER: NoWorkerError,
  ERR_TRANSFER: TransferError,
  ERR_INVALID_RESULT: InvalidResultError,
  ERR_REPLY_TOO_LARGE: ReplyTooLargeError,
  ERR_UNSUPPORTED_RESPONSE_METHOD: UnsupportedResponseMethodError,
  ERR_NO_RESPONSE: NoResponseError,
  ERR_STORE_UNAVAILABLE: StoreUnavailableError,
};

/** The class name of the library's error of this code (`TaskTimeoutError`), if it is one. */
export function libraryErrorName(code: string | undefined): string | undefined {
  return code === undefined ? undefined : libraryErrors[code]?.name;
}

/**
 * An `Error` rebuilt from a record: its message, its fields and properties as own properties,
 * of the library's class for a library error's code (`instanceof TaskTimeoutError` holds).
 * Its stack is its first line only: where it was thrown was not kept.
 */
export function errorFromRecord(record: ErrorRecord): Error {
  const type = record.code === undefined ? undefined : libraryErrors[record.code];
  // The class's prototype, without its constructor (whose arguments were not kept).
  const error = type === undefined ? new Error(record.message) : (Reflect.construct(Error, [record.message], type) as Error);
  if (record.name !== 'Error') error.name = record.name;
  const target = error as unknown as Record<string, unknown>;
  if (record.status !== undefined) target.status = record.status;
  if (record.statusCode !== undefined) target.statusCode = record.statusCode;
  if (record.code !== undefined) target.code = record.code;
  if (record.expose !== undefined) target.expose = record.expose;
  if (record.properties !== undefined) Object.assign(error, record.properties);
  Object.defineProperty(error, 'stack', { value: `${record.name}: ${record.message}`, writable: true, configurable: true, enumerable: false });
  return error;
}

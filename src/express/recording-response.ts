import { EventEmitter } from 'node:events';
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import { basename, extname } from 'node:path';
import contentDisposition from 'content-disposition';
import { serialize as serializeCookie, type SerializeOptions } from 'cookie';
import { sign } from 'cookie-signature';
import encodeUrl from 'encodeurl';
import mime from 'mime-types';
import vary from 'vary';
import { InvalidArgumentError, UnsupportedResponseMethodError } from '../core/errors.js';
import type { Reply } from '../core/task.js';

/** How `res.json()` serialises: Express's `json replacer`, `json spaces` and `json escape` settings. */
export interface JsonSettings {
  replacer?: ((this: unknown, key: string, value: unknown) => unknown) | undefined;
  spaces?: string | number | undefined;
  escape?: boolean | undefined;
}

export interface RecordingResponseOptions {
  /** The settings of `res.json()`, read when it is called. */
  json?: (() => JsonSettings) | undefined;
  /** The secret of signed cookies (`req.secret`, set by cookie-parser). */
  secret?: string | undefined;
  /** Once this answers true (the task was canceled or timed out), everything the handler writes is dropped. */
  isAborted?: (() => boolean) | undefined;
}

type HeaderValue = string | number | readonly (string | number)[];
type Chunk = string | Uint8Array;
type Callback = (error?: Error | null) => void;

// Headers that describe one transfer, not the response: the replay sets its own.
const hopByHop = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

// The same header names and values recur in nearly every reply; sharing one string for
// each keeps them out of every stored task.
const common = new Map(
  [
    'content-type',
    'location',
    'set-cookie',
    'cache-control',
    'etag',
    'last-modified',
    'vary',
    'link',
    'content-disposition',
    'application/json; charset=utf-8',
    'text/html; charset=utf-8',
    'text/plain; charset=utf-8',
    'application/octet-stream',
  ].map((value) => [value, value]),
);
const shared = (value: string): string => common.get(value) ?? value;
// Content types that already say charset=utf-8, as send() would make them.
const utf8Types = new Set(['application/json; charset=utf-8', 'text/html; charset=utf-8', 'text/plain; charset=utf-8']);

// Why sendFile() and its old spelling cannot be replayed.
const fromDisk = 'a file is streamed from disk; read it and use res.send(), or send its URL';

function headersSentError(): Error {
  return Object.assign(new Error('Cannot set headers after they are sent to the client'), {
    code: 'ERR_HTTP_HEADERS_SENT',
  });
}

function setCharset(type: string, charset: string): string {
  return /;\s*charset\s*=/i.test(type)
    ? type.replace(/(;\s*charset\s*=\s*)("[^"]*"|[^;\s]*)/i, `$1${charset}`)
    : `${type}; charset=${charset}`;
}

function stringify(value: unknown, settings: JsonSettings | undefined): string | undefined {
  const json =
    settings?.replacer !== undefined || settings?.spaces !== undefined
      ? JSON.stringify(value, settings.replacer as never, settings.spaces)
      : JSON.stringify(value);
  if (settings?.escape !== true || json === undefined) return json;
  return json.replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}

/**
 * Stands in for Express's `res` while a task runs: records what the handler writes,
 * so the monitor can replay it. It speaks the Express API (`status`, `set`, `json`,
 * `send`, `cookie`, `redirect`, …), the Node API (`setHeader`, `writeHead`, `write`,
 * `end`), and enough of a writable stream's events for `stream.pipe(res)`.
 *
 * Methods that cannot be replayed from memory (`sendFile`, `download`, `render`,
 * `format`, `jsonp`) throw `UnsupportedResponseMethodError` and fail the task.
 */
export class RecordingResponse extends EventEmitter {
  statusCode = 200;
  statusMessage = '';
  /** Per-request values, as Express's `res.locals`. */
  locals: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  headersSent = false;
  writableEnded = false;
  readonly writable = true;

  // Lower-case name → value.
  readonly #headers = new Map<string, string | string[]>();
  readonly #chunks: Chunk[] = [];
  readonly #options: RecordingResponseOptions;
  #settle: { resolve(reply: Reply): void; reject(error: unknown): void } | undefined;
  /** Settles with the reply when the handler ends the response, or rejects when it used an unsupported method. */
  readonly reply: Promise<Reply>;

  constructor(options: RecordingResponseOptions = {}) {
    super();
    this.#options = options;
    this.reply = new Promise<Reply>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // Nobody may be waiting yet when an unsupported method rejects it.
    this.reply.catch(() => {});
  }

  /** Deprecated Node alias of `writableEnded`. */
  get finished(): boolean {
    return this.writableEnded;
  }

  get #dropped(): boolean {
    return this.#settle === undefined || this.#options.isAborted?.() === true;
  }

  // ---- status ---------------------------------------------------------------

  status(code: number): this {
    if (!Number.isInteger(code)) {
      throw new TypeError(`Invalid status code: ${JSON.stringify(code)}. Status code must be an integer.`);
    }
    if (code < 100 || code > 999) {
      throw new RangeError(`Invalid status code: ${JSON.stringify(code)}. Status code must be greater than 99 and less than 1000.`);
    }
    this.statusCode = code;
    return this;
  }

  sendStatus(code: number): this {
    this.status(code);
    this.type('txt');
    return this.send(STATUS_CODES[code] ?? String(code));
  }

  // ---- headers --------------------------------------------------------------

  setHeader(name: string, value: HeaderValue): this {
    if (this.headersSent) throw headersSentError();
    validateHeaderName(name);
    const lower = name.toLowerCase();
    const stored = Array.isArray(value) ? value.map(String) : String(value);
    for (const one of Array.isArray(stored) ? stored : [stored]) validateHeaderValue(name, one);
    this.#headers.set(shared(lower), Array.isArray(stored) ? stored.map(shared) : shared(stored));
    return this;
  }

  getHeader(name: string): string | string[] | undefined {
    return this.#headers.get(name.toLowerCase());
  }

  getHeaders(): Record<string, string | string[]> {
    const headers: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
    for (const [lower, value] of this.#headers) headers[lower] = value;
    return headers;
  }

  getHeaderNames(): string[] {
    return [...this.#headers.keys()];
  }

  hasHeader(name: string): boolean {
    return this.#headers.has(name.toLowerCase());
  }

  removeHeader(name: string): void {
    if (this.headersSent) throw headersSentError();
    this.#headers.delete(name.toLowerCase());
  }

  set(field: string | Record<string, HeaderValue>, value?: HeaderValue): this {
    if (typeof field === 'object') {
      for (const [key, one] of Object.entries(field)) this.set(key, one);
      return this;
    }
    if (value === undefined) throw new InvalidArgumentError(`res.set("${field}") needs a value`);
    if (field.toLowerCase() === 'content-type') {
      if (Array.isArray(value)) throw new TypeError('Content-Type cannot be set to an Array');
      const type = String(value);
      return this.setHeader(field, mime.contentType(type) || type);
    }
    return this.setHeader(field, value);
  }

  header(field: string | Record<string, HeaderValue>, value?: HeaderValue): this {
    return this.set(field, value);
  }

  get(field: string): string | string[] | undefined {
    return this.getHeader(field);
  }

  append(field: string, value: string | string[]): this {
    const previous = this.get(field);
    const values = Array.isArray(value) ? value : [value];
    return this.set(field, previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), ...values]);
  }

  type(type: string): this {
    return this.set('Content-Type', type.includes('/') ? type : mime.contentType(type) || 'application/octet-stream');
  }

  contentType(type: string): this {
    return this.type(type);
  }

  location(url: string): this {
    return this.set('Location', encodeUrl(url));
  }

  links(links: Record<string, string | string[]>): this {
    const existing = this.get('Link');
    const added = Object.entries(links)
      .flatMap(([rel, urls]) => (Array.isArray(urls) ? urls : [urls]).map((url) => `<${url}>; rel="${rel}"`))
      .join(', ');
    return this.set('Link', existing ? `${String(existing)}, ${added}` : added);
  }

  vary(field: string | string[]): this {
    const current = this.get('Vary');
    return this.set('Vary', vary.append(Array.isArray(current) ? current.join(', ') : (current ?? ''), field));
  }

  attachment(filename?: string): this {
    const name = filename === undefined ? undefined : basename(filename);
    if (name) this.type(extname(name));
    return this.set('Content-Disposition', contentDisposition(name));
  }

  cookie(name: string, value: unknown, options: SerializeOptions & { signed?: boolean } = {}): this {
    const { signed, ...rest } = options;
    const cookieOptions: SerializeOptions = { ...rest };
    let text = typeof value === 'object' ? `j:${JSON.stringify(value)}` : String(value);
    if (signed) {
      const secret = this.#options.secret;
      if (!secret) throw new Error('cookieParser("secret") required for signed cookies');
      text = `s:${sign(text, secret)}`;
    }
    if (cookieOptions.maxAge != null && !Number.isNaN(Number(cookieOptions.maxAge))) {
      // Express takes maxAge in milliseconds, the header in seconds.
      const maxAge = Number(cookieOptions.maxAge);
      cookieOptions.expires = new Date(Date.now() + maxAge);
      cookieOptions.maxAge = Math.floor(maxAge / 1000);
    }
    cookieOptions.path ??= '/';
    return this.append('Set-Cookie', serializeCookie(name, text, cookieOptions));
  }

  clearCookie(name: string, options: SerializeOptions = {}): this {
    const cleared: SerializeOptions = { path: '/', ...options, expires: new Date(1) };
    delete cleared.maxAge;
    return this.cookie(name, '', cleared);
  }

  writeHead(
    status: number,
    reason?: string | Record<string, HeaderValue> | readonly string[],
    headers?: Record<string, HeaderValue> | readonly string[],
  ): this {
    if (this.headersSent) throw headersSentError();
    const given = typeof reason === 'string' ? headers : reason;
    this.status(status);
    if (Array.isArray(given)) {
      for (let i = 0; i + 1 < given.length; i += 2) this.setHeader(given[i] as string, given[i + 1] as string);
    } else if (given !== undefined) {
      for (const [key, value] of Object.entries(given)) this.setHeader(key, value as HeaderValue);
    }
    this.headersSent = true;
    return this;
  }

  flushHeaders(): void {
    this.headersSent = true;
  }

  // ---- bodies ---------------------------------------------------------------

  json(body: unknown): this {
    const text = stringify(body, this.#options.json?.());
    if (!this.#headers.has('content-type')) {
      if (this.headersSent) throw headersSentError();
      this.#headers.set('content-type', 'application/json; charset=utf-8');
    }
    return this.send(text);
  }

  send(body?: unknown): this {
    let chunk = body;
    if (typeof chunk === 'string') {
      const type = this.get('Content-Type');
      if (typeof type !== 'string') this.type('html');
      else if (!utf8Types.has(type)) this.set('Content-Type', setCharset(type, 'utf-8'));
    } else if (typeof chunk === 'boolean' || typeof chunk === 'number' || typeof chunk === 'object') {
      if (chunk === null) chunk = '';
      else if (ArrayBuffer.isView(chunk)) {
        if (!this.get('Content-Type')) this.type('bin');
      } else return this.json(chunk);
    }
    this.end(chunk as Chunk | undefined);
    return this;
  }

  redirect(statusOrUrl: number | string, url?: string): void {
    const status = typeof statusOrUrl === 'number' ? statusOrUrl : 302;
    const address = String(typeof statusOrUrl === 'number' ? url : statusOrUrl);
    this.location(address);
    this.status(status);
    // Express negotiates the body (res.format), which varies it by Accept; the text one is recorded.
    this.vary('Accept');
    this.type('txt');
    this.end(`${STATUS_CODES[status] ?? status}. Redirecting to ${String(this.get('Location'))}`);
  }

  write(chunk: Chunk, encoding?: BufferEncoding | Callback, callback?: Callback): boolean {
    const done = typeof encoding === 'function' ? encoding : callback;
    if (!this.#dropped) {
      this.headersSent = true;
      this.#record(chunk, typeof encoding === 'string' ? encoding : undefined);
    }
    if (done) process.nextTick(done);
    return true;
  }

  end(chunk?: Chunk | Callback, encoding?: BufferEncoding | Callback, callback?: Callback): this {
    const done = [chunk, encoding, callback].find((arg): arg is Callback => typeof arg === 'function');
    if (this.#dropped) {
      if (done) process.nextTick(done);
      return this;
    }
    if (chunk !== undefined && typeof chunk !== 'function') {
      this.#record(chunk, typeof encoding === 'string' ? encoding : undefined);
    }
    this.headersSent = true;
    this.writableEnded = true;
    const settle = this.#settle;
    this.#settle = undefined;
    settle?.resolve(this.#toReply());
    // As a stream would, on a later tick; a tick costs, so only when someone listens.
    if (done !== undefined || this.listenerCount('finish') > 0 || this.listenerCount('close') > 0) {
      process.nextTick(() => {
        this.emit('finish');
        this.emit('close');
        done?.();
      });
    }
    return this;
  }

  // ---- what cannot be replayed ---------------------------------------------

  sendFile(): never {
    return this.#unsupported('sendFile', fromDisk);
  }

  sendfile(): never {
    return this.#unsupported('sendfile', fromDisk);
  }

  download(): never {
    return this.#unsupported('download', 'a file is streamed from disk; use res.attachment(name).send(data)');
  }

  render(): never {
    return this.#unsupported('render', 'views render through the app; render to a string with app.render() and use res.send()');
  }

  format(): never {
    return this.#unsupported('format', 'content negotiation needs the client that polls; choose a representation and send it');
  }

  jsonp(): never {
    return this.#unsupported('jsonp', 'JSONP needs the callback of the request that polls; use res.json()');
  }

  #unsupported(method: string, why: string): never {
    const error = new UnsupportedResponseMethodError(method, why);
    const settle = this.#settle;
    this.#settle = undefined;
    settle?.reject(error);
    throw error;
  }

  #record(chunk: Chunk, encoding: BufferEncoding | undefined): void {
    if (typeof chunk === 'string') {
      this.#chunks.push(encoding === undefined || encoding === 'utf8' || encoding === 'utf-8' ? chunk : Buffer.from(chunk, encoding));
    } else if (chunk instanceof Uint8Array) {
      // A copy: the caller may reuse its buffer once write() returns.
      this.#chunks.push(Buffer.from(chunk));
    } else {
      throw new TypeError(`The "chunk" argument must be a string, Buffer or Uint8Array, got ${typeof chunk}`);
    }
  }

  #toReply(): Reply {
    const status = this.statusCode;
    const bodiless = status === 204 || status === 304 || (status >= 100 && status < 200);
    const headers: string[] = [];
    for (const [lower, value] of this.#headers) {
      if (hopByHop.has(lower) || (bodiless && lower === 'content-type')) continue;
      if (Array.isArray(value)) for (const one of value) headers.push(lower, one);
      else headers.push(lower, value);
    }
    let body: string | Uint8Array | undefined;
    if (!bodiless && this.#chunks.length > 0) {
      body = this.#chunks.every((chunk) => typeof chunk === 'string')
        ? this.#chunks.join('')
        : Buffer.concat(this.#chunks.map((chunk) => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk)));
    }
    // An array grown by push() keeps spare capacity; the reply may be kept for minutes.
    return { status, headers: headers.slice(), body };
  }
}

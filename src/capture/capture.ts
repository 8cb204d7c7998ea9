import { EventEmitter } from 'node:events';
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import { ReplyTooLargeError } from '../core/errors.js';
import type { Reply } from '../core/task.js';
import { toReply } from './reply.js';

type HeaderValue = string | number | readonly string[];
type Chunk = string | Uint8Array;
type Callback = (error?: Error | null) => void;

/** What a capture starts from: the state the real response was in when the handler was called. */
export interface CaptureInit {
  /** The request the handler answers; Express's methods read it as `res.req`. */
  readonly req: unknown;
  /** `res.locals` to start with (a copy of the real response's). */
  readonly locals?: Record<string, unknown> | undefined;
  /** The status code already set, 200 unless middleware changed it. */
  readonly statusCode?: number | undefined;
  /** Headers already set by middleware, `[name, value, …]` as they were named. */
  readonly headers?: readonly string[] | undefined;
  /** The largest body recorded; a larger one fails the capture with `ReplyTooLargeError`. */
  readonly maxBytes: number;
}

/**
 * A capture as its owner holds it: the response the handler writes to, and beside it (not
 * on it, where the names could clash with the handler's own or with Node's duck typing)
 * the reply and the abort.
 */
export interface Capture<T> {
  /** The handler's `res`. */
  readonly res: T;
  /** Settles with the reply once the handler ended the response; rejects when the capture failed. */
  readonly reply: Promise<Reply>;
  /**
   * Stops recording: later writes are dropped, and the capture closes as a response does
   * whose client went away, so that a piped stream or a `sendFile` stops reading. With a
   * `reason`, `reply` rejects with it.
   */
  abort(reason?: unknown): void;
}

// The capture's own controls, kept off the names a handler or Node might use.
const kReply = Symbol('reply');
const kAbort = Symbol('abort');

const nodeError = (code: string, message: string, Type: ErrorConstructor = Error): Error =>
  Object.assign(new Type(message), { code });
const headersSent = (action: string): Error =>
  nodeError('ERR_HTTP_HEADERS_SENT', `Cannot ${action} headers after they are sent to the client`);

/**
 * The socket a capture claims to be on: never the client's, so that nothing the handler
 * does (on-finished, a piped stream) ties the background task to a connection that has
 * already received its 202. It "closes" when the capture is aborted.
 */
class StandInSocket extends EventEmitter {
  writable = true;
  readable = true;
  destroyed = false;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly encrypted: boolean | undefined;

  constructor(real: Partial<StandInSocket> | undefined) {
    super();
    this.remoteAddress = real?.remoteAddress;
    this.remotePort = real?.remotePort;
    this.localAddress = real?.localAddress;
    this.localPort = real?.localPort;
    this.encrypted = real?.encrypted;
  }

  close(): void {
    if (this.destroyed) return;
    this.writable = this.readable = false;
    this.destroyed = true;
    this.emit('close', false);
  }

  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  cork(): void {}
  uncork(): void {}
  destroy(): this {
    this.close();
    return this;
  }
}

// The event methods come from the prototype chain (Node's ServerResponse is an EventEmitter).
interface CaptureSurface extends Pick<EventEmitter, 'on' | 'once' | 'off' | 'emit' | 'listenerCount' | 'removeListener'> {}

/**
 * Node's `ServerResponse` surface, recorded instead of written: the status, the header
 * methods, `writeHead`, `write`, `end`, `flushHeaders`, the `finish` and `close` events,
 * and enough of a writable for `stream.pipe(res)`. Nothing else: every method of
 * Express's `res` (`json`, `send`, `sendFile`, `cookie`, `redirect`, `format`, `render`…)
 * is Express's own, from the prototype this surface is put on (see `createCapture`), and
 * writes through these.
 */
class CaptureSurface {
  statusCode: number;
  statusMessage: string | undefined = undefined;
  locals: Record<string, unknown>;
  readonly req: unknown;
  sendDate = true;
  chunkedEncoding = false;
  shouldKeepAlive = true;
  useChunkedEncodingByDefault = true;
  strictContentLength = false;
  finished = false;
  writable = true;
  destroyed = false;
  readonly [kReply]: Promise<Reply>;

  // Lower-case name → [name as given, value as given], in the order first set, as Node keeps them.
  readonly #headers = new Map<string, [string, HeaderValue]>();
  readonly #chunks: Chunk[] = [];
  readonly #maxBytes: number;
  #bytes = 0;
  // Names removed (lower case) that were not set again: the replay removes them too.
  #removed: Set<string> | undefined;
  #trailers: string[] | undefined;
  // The status line, once fixed; and whether that was before end() (writeHead, write, flushHeaders).
  #head: { status: number; message: string | undefined; early: boolean } | undefined;
  #chunkLengths: number[] | undefined;
  // Whether Node would send an early head as UTF-8 (see #sending); decided by the first send after it.
  #utf8Head: boolean | undefined;
  #settle: { resolve(reply: Reply): void; reject(error: unknown): void } | undefined;
  #socket: StandInSocket | undefined;
  #realSocket: Partial<StandInSocket> | undefined;
  #finishedEmitted = false;
  // Whether a header was ever set: Node's writeHead() treats the headers it is given so.
  #everSet = false;

  constructor(init: CaptureInit, realSocket: Partial<StandInSocket> | undefined) {
    this.req = init.req;
    this.statusCode = init.statusCode ?? 200;
    this.locals = Object.assign(Object.create(null) as Record<string, unknown>, init.locals);
    this.#maxBytes = init.maxBytes;
    this.#realSocket = realSocket;
    const initial = init.headers;
    if (initial !== undefined) {
      for (let i = 0; i + 1 < initial.length; i += 2) this.appendHeader(initial[i]!, initial[i + 1]!);
    }
    this[kReply] = new Promise<Reply>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // A capture that fails before anyone waits (an abort) must not be an unhandled rejection.
    this[kReply].catch(() => {});
  }

  // ---- headers, as Node's OutgoingMessage keeps them -------------------------

  setHeader(name: string, value: HeaderValue): this {
    if (this.#head !== undefined) throw headersSent('set');
    validateHeaderName(name);
    validateHeaderValue(name, value as string);
    const lower = name.toLowerCase();
    this.#headers.set(lower, [name, value]);
    this.#removed?.delete(lower);
    this.#everSet = true;
    return this;
  }

  appendHeader(name: string, value: HeaderValue): this {
    if (this.#head !== undefined) throw headersSent('append');
    validateHeaderName(name);
    validateHeaderValue(name, value as string);
    const lower = name.toLowerCase();
    const existing = this.#headers.get(lower);
    if (existing === undefined) return this.setHeader(name, value);
    const before = Array.isArray(existing[1]) ? existing[1] : [String(existing[1])];
    existing[1] = before.concat(Array.isArray(value) ? (value as string[]) : [String(value)]);
    return this;
  }

  setHeaders(headers: Headers | Map<string, HeaderValue>): this {
    if (this.#head !== undefined) throw headersSent('set');
    // As Node: the cookies are gathered and set last, as one header of several values.
    const cookies: string[] = [];
    for (const [name, value] of headers) {
      if (name === 'set-cookie') cookies.push(...(Array.isArray(value) ? (value as string[]) : [String(value)]));
      else this.setHeader(name, value);
    }
    if (cookies.length > 0) this.setHeader('set-cookie', cookies);
    return this;
  }

  getHeader(name: string): HeaderValue | undefined {
    if (typeof name !== 'string') throw nodeError('ERR_INVALID_ARG_TYPE', 'The "name" argument must be of type string', TypeError);
    return this.#headers.get(name.toLowerCase())?.[1];
  }

  getHeaders(): Record<string, HeaderValue> {
    const headers = Object.create(null) as Record<string, HeaderValue>;
    for (const [lower, [, value]] of this.#headers) headers[lower] = value;
    return headers;
  }

  getHeaderNames(): string[] {
    return [...this.#headers.keys()];
  }

  getRawHeaderNames(): string[] {
    return Array.from(this.#headers.values(), ([name]) => name);
  }

  hasHeader(name: string): boolean {
    return this.#headers.has(name.toLowerCase());
  }

  removeHeader(name: string): void {
    if (typeof name !== 'string') throw nodeError('ERR_INVALID_ARG_TYPE', 'The "name" argument must be of type string', TypeError);
    if (this.#head !== undefined) throw headersSent('remove');
    const lower = name.toLowerCase();
    // As in Node, removing Date turns the Date header off.
    if (lower === 'date') this.sendDate = false;
    this.#headers.delete(lower);
    (this.#removed ??= new Set()).add(lower);
  }

  get headersSent(): boolean {
    return this.#head !== undefined;
  }

  get writableEnded(): boolean {
    return this.finished;
  }

  get writableFinished(): boolean {
    return this.#finishedEmitted;
  }

  get writableLength(): number {
    return 0;
  }

  get writableHighWaterMark(): number {
    return 16_384;
  }

  get writableObjectMode(): boolean {
    return false;
  }

  get writableCorked(): number {
    return 0;
  }

  get writableNeedDrain(): boolean {
    return false;
  }

  get closed(): boolean {
    return this.#finishedEmitted || this.destroyed;
  }

  get errored(): null {
    return null;
  }

  get socket(): StandInSocket {
    return (this.#socket ??= new StandInSocket(this.#realSocket));
  }

  get connection(): StandInSocket {
    return this.socket;
  }

  // ---- the head -------------------------------------------------------------

  writeHead(statusCode: number, reason?: string | Record<string, HeaderValue> | readonly unknown[], headers?: Record<string, HeaderValue> | readonly unknown[]): this {
    if (this.#head !== undefined) throw headersSent('write');
    let given = headers;
    let message = this.statusMessage;
    if (typeof reason === 'string') message = reason;
    else given ??= reason;
    // As Node's writeHead: over headers set before, each given one is set (the last of a
    // name wins); with none set before, they are sent as given, repeated names and all.
    if (given !== undefined && given !== null) {
      const pairs: [string, HeaderValue][] = [];
      if (Array.isArray(given)) {
        if (!this.#everSet && given.length > 0 && Array.isArray(given[0])) {
          for (const pair of given as [string, HeaderValue][]) pairs.push(pair);
        } else {
          if (given.length % 2 !== 0) throw nodeError('ERR_INVALID_ARG_VALUE', "The argument 'headers' is invalid.", TypeError);
          for (let i = 0; i < given.length; i += 2) pairs.push([given[i] as string, given[i + 1] as HeaderValue]);
        }
      } else {
        for (const name of Object.keys(given)) pairs.push([name, (given as Record<string, HeaderValue>)[name]!]);
      }
      const raw = !this.#everSet;
      for (const [name, value] of pairs) {
        if (!name) continue;
        if (raw) this.appendHeader(name, value);
        else this.setHeader(name, value);
      }
    }
    this.#fixHead(statusCode, message, true);
    return this;
  }

  writeHeader(statusCode: number, reason?: string | Record<string, HeaderValue>, headers?: Record<string, HeaderValue>): this {
    return this.writeHead(statusCode, reason, headers);
  }

  flushHeaders(): void {
    if (this.#head === undefined) this.#fixHead(this.statusCode, this.statusMessage, true);
    this.#sending('', undefined);
  }

  // Interim responses belong to the submit's connection, which has had its 202.
  writeContinue(callback?: () => void): void {
    if (callback) process.nextTick(callback);
  }

  writeProcessing(callback?: () => void): void {
    if (callback) process.nextTick(callback);
  }

  writeEarlyHints(_hints: unknown, callback?: () => void): void {
    if (callback) process.nextTick(callback);
  }

  addTrailers(headers: Record<string, HeaderValue> | readonly [string, HeaderValue][]): void {
    // As Node: each call replaces the trailers; a value of several is sent line by line.
    const trailers: string[] = [];
    const entries = Array.isArray(headers) ? headers : Object.entries(headers);
    for (const [name, value] of entries as [string, HeaderValue][]) {
      validateHeaderName(name);
      const values = Array.isArray(value) && value.length > 1 ? (value as string[]) : [Array.isArray(value) ? value.join('; ') : String(value)];
      for (const one of values) {
        validateHeaderValue(name, one);
        trailers.push(name, String(one));
      }
    }
    this.#trailers = trailers;
  }

  // Fixes the status line as Node's writeHead() does: a status code from 100 to 999.
  #fixHead(statusCode: unknown, message: string | undefined, early: boolean): void {
    const status = (statusCode as number) | 0;
    if (status < 100 || status > 999) {
      throw nodeError('ERR_HTTP_INVALID_STATUS_CODE', `Invalid status code: ${String(statusCode)}`, RangeError);
    }
    if (message !== undefined && /[^\t\x20-\x7e\x80-\xff]/.test(message)) {
      throw nodeError('ERR_INVALID_CHAR', 'Invalid character in statusMessage', TypeError);
    }
    this.statusCode = status;
    this.statusMessage = message || STATUS_CODES[status] || 'unknown';
    this.#head = { status, message: message || undefined, early };
    if (early) this.#chunkLengths = [];
  }

  // ---- the body -------------------------------------------------------------

  write(chunk: Chunk, encoding?: BufferEncoding | Callback, callback?: Callback): boolean {
    const done = typeof encoding === 'function' ? encoding : callback;
    if (this.finished) {
      // Node emits an error that would crash the process; a background task's stray write is dropped.
      if (done) process.nextTick(done, nodeError('ERR_STREAM_WRITE_AFTER_END', 'write after end'));
      return false;
    }
    checkChunk(chunk);
    if (this.#head === undefined) this.#fixHead(this.statusCode, this.statusMessage, true);
    this.#sending(chunk, typeof encoding === 'string' ? encoding : undefined);
    const kept = this.#settle !== undefined && this.#record(chunk, typeof encoding === 'string' ? encoding : undefined);
    if (done) process.nextTick(done);
    // false once dropping: a piped source pauses, and reads no further.
    return kept;
  }

  end(chunk?: Chunk | Callback, encoding?: BufferEncoding | Callback, callback?: Callback): this {
    let data = chunk;
    let done = callback;
    if (typeof data === 'function') {
      done = data;
      data = undefined;
    } else if (typeof encoding === 'function') {
      done = encoding;
      encoding = undefined;
    }
    if (this.finished) {
      if (done) {
        if (this.#finishedEmitted) process.nextTick(done, nodeError('ERR_STREAM_ALREADY_FINISHED', 'Cannot call end after a stream was finished'));
        else this.once('finish', done);
      }
      return this;
    }
    if (data !== undefined && data !== null) checkChunk(data);
    if (this.#head === undefined) this.#fixHead(this.statusCode, this.statusMessage, false);
    else this.#sending(data || undefined, encoding as BufferEncoding | undefined);
    if (data !== undefined && data !== null && this.#settle !== undefined) this.#record(data, encoding as BufferEncoding | undefined);
    this.finished = true;
    const settle = this.#settle;
    this.#settle = undefined;
    if (settle !== undefined) settle.resolve(this.#toReply());
    if (done) this.once('finish', done);
    // As a stream does, on a later tick; a tick costs, so only when someone listens.
    if (this.listenerCount('finish') > 0 || this.listenerCount('close') > 0 || this.listenerCount('prefinish') > 0) {
      process.nextTick(() => this.#emitFinish());
    } else {
      this.#finishedEmitted = true;
    }
    return this;
  }

  #emitFinish(): void {
    this.#finishedEmitted = true;
    this.emit('prefinish');
    this.emit('finish');
    this.emit('close');
  }

  // Node sends a head that went out before the end together with the first thing sent
  // after it, in one string when that is a string: as UTF-8 (a header beyond ASCII is then
  // UTF-8 on the wire) unless it was given as Latin-1. A chunk of a chunked body is sent
  // after its size line, which is Latin-1; a Buffer, and an end() without data, likewise.
  #sending(chunk: Chunk | undefined, encoding: BufferEncoding | undefined): void {
    if (this.#utf8Head !== undefined || !this.#head?.early) return;
    const text = typeof chunk === 'string' && (encoding === undefined || encoding === 'utf8' || encoding === 'utf-8');
    this.#utf8Head = text && (chunk === '' || !this.#chunked());
  }

  // Whether Node frames this body in chunks, as its _storeHeader decides for an early head.
  #chunked(): boolean {
    const te = this.#headers.get('transfer-encoding');
    if (te !== undefined) return /(?:^|\W)chunked(?:$|\W)/i.test(String(te[1]));
    const status = this.#head!.status;
    const bodiless = status === 204 || status === 304 || (status >= 100 && status < 200) || (this.req as { method?: string } | undefined)?.method === 'HEAD';
    return !bodiless && !this.#headers.has('content-length') && !this.#removed?.has('transfer-encoding');
  }

  // Records a chunk; false (and the capture fails) when it would pass the size bound.
  #record(chunk: Chunk, encoding: BufferEncoding | undefined): boolean {
    const utf8 = typeof chunk === 'string' && (encoding === undefined || encoding === 'utf8' || encoding === 'utf-8');
    const piece: Chunk = typeof chunk === 'string' ? (utf8 ? chunk : Buffer.from(chunk, encoding)) : chunk;
    const length = typeof piece === 'string' ? Buffer.byteLength(piece) : piece.byteLength;
    if (length === 0) return true;
    this.#bytes += length;
    if (this.#bytes > this.#maxBytes) {
      this[kAbort](new ReplyTooLargeError(this.#maxBytes));
      return false;
    }
    // A copy of bytes: the writer may reuse its buffer once write() returns.
    this.#chunks.push(typeof piece === 'string' ? piece : Buffer.from(piece));
    this.#chunkLengths?.push(length);
    return true;
  }

  #toReply(): Reply {
    const head = this.#head!;
    return toReply({
      status: head.status,
      statusMessage: head.message,
      headers: this.#headers,
      removed: this.#removed,
      sendDate: this.sendDate,
      chunks: this.#chunks,
      chunkLengths: this.#chunkLengths,
      trailers: this.#trailers,
      utf8Head: this.#utf8Head === true,
    });
  }

  // ---- the rest of a writable ---------------------------------------------------

  [kAbort](reason?: unknown): void {
    const settle = this.#settle;
    this.#settle = undefined;
    if (settle !== undefined && reason !== undefined) settle.reject(reason);
    if (this.destroyed) return;
    this.destroyed = true;
    this.writable = false;
    this.#chunks.length = 0;
    this.#socket?.close();
    if (!this.#finishedEmitted) this.emit('close');
  }

  destroy(error?: Error): this {
    this[kAbort](error ?? nodeError('ERR_STREAM_DESTROYED', 'The handler destroyed the response before it ended.'));
    return this;
  }

  setTimeout(_ms: number, callback?: () => void): this {
    if (callback) this.once('timeout', callback);
    return this;
  }

  cork(): void {}
  uncork(): void {}
}

function checkChunk(chunk: unknown): void {
  if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
    throw nodeError(
      'ERR_INVALID_ARG_TYPE',
      `The "chunk" argument must be of type string or an instance of Buffer or Uint8Array. Received ${chunk === null ? 'null' : typeof chunk}`,
      TypeError,
    );
  }
}

// One prototype per response prototype (per app): the surface over Express's methods.
const { constructor: _constructor, ...surface } = Object.getOwnPropertyDescriptors(CaptureSurface.prototype);
const prototypes = new WeakMap<object, object>();

function constructorFor(base: object): new () => object {
  let prototype = prototypes.get(base);
  if (prototype === undefined) {
    prototype = Object.create(base, surface) as object;
    prototypes.set(base, prototype);
  }
  // A constructor whose `prototype` Reflect.construct gives the new capture.
  const target = function CaptureResponse(): void {};
  target.prototype = prototype;
  return target as unknown as new () => object;
}
const constructors = new WeakMap<object, new () => object>();

/**
 * A response for a handler to write to, recorded for replay: an object whose prototype
 * chain is `base` (the app's `app.response`, so Express 4 or 5, whichever the app runs,
 * with every method the app added) over a surface that records what Node's
 * `ServerResponse` would have sent.
 *
 * `realSocket` lends the capture its addresses (`res.socket.remoteAddress`); the capture is
 * never tied to it.
 */
export function createCapture<T extends object>(base: T, init: CaptureInit, realSocket?: object | null): Capture<T> {
  let target = constructors.get(base);
  if (target === undefined) {
    target = constructorFor(base);
    constructors.set(base, target);
  }
  const res = Reflect.construct(CaptureSurface, [init, realSocket ?? undefined], target) as CaptureSurface;
  return { res: res as unknown as T, reply: res[kReply], abort: (reason) => res[kAbort](reason) };
}

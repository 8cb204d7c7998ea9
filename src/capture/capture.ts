import { EventEmitter } from 'node:events';
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import { ReplyTooLargeError } from '../core/errors.js';
import type { Reply } from '../core/task.js';
import { HeaderMap, type HeaderValue } from './header-map.js';
import { toReply } from './reply.js';

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
const kState = Symbol('capture');
const kOwnLocals = Symbol('locals');

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

// The capture's own state, kept off the names a handler or Node might read.
class CaptureState {
  // Lower-case name → [name as given, value as given], in the order first set, as Node keeps them.
  readonly headers = new HeaderMap();
  chunks: Chunk[] | undefined = undefined;
  bytes = 0;
  // Names removed (lower case) that were not set again: the replay removes them too.
  removed: Set<string> | undefined = undefined;
  trailers: string[] | undefined = undefined;
  // The status line, once fixed; and whether that was before end() (writeHead, write, flushHeaders).
  head: { status: number; message: string | undefined; early: boolean } | undefined = undefined;
  chunkLengths: number[] | undefined = undefined;
  // Whether Node would send an early head as UTF-8 (see #sending); decided by the first send after it.
  utf8Head: boolean | undefined = undefined;
  resolve: ((reply: Reply) => void) | undefined = undefined;
  reject: ((error: unknown) => void) | undefined = undefined;
  socket: StandInSocket | undefined = undefined;
  finishedEmitted = false;
  // Whether a header was ever set: Node's writeHead() treats the headers it is given so.
  everSet = false;
  // The real res.locals, copied when the handler first reads its own.
  localsFrom: Record<string, unknown> | undefined;

  constructor(
    readonly maxBytes: number,
    readonly realSocket: Partial<StandInSocket> | undefined,
    locals: Record<string, unknown> | undefined,
  ) {
    this.localsFrom = locals;
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
 *
 * Never constructed: its methods are put on a prototype per app, and a capture is an
 * object of that prototype with the fields below, set by `createCapture` (a constructor
 * called with another prototype's objects costs several times more).
 */
class CaptureSurface {
  declare statusCode: number;
  declare statusMessage: string | undefined;
  declare readonly req: unknown;
  declare sendDate: boolean;
  declare finished: boolean;
  declare writable: boolean;
  declare destroyed: boolean;
  declare [kState]: CaptureState;
  declare [kOwnLocals]: Record<string, unknown> | undefined;

  get locals(): Record<string, unknown> {
    let locals = this[kOwnLocals];
    if (locals === undefined) {
      const state = this[kState];
      locals = this[kOwnLocals] = Object.assign(Object.create(null) as Record<string, unknown>, state.localsFrom);
      state.localsFrom = undefined;
    }
    return locals;
  }

  set locals(value: Record<string, unknown>) {
    this[kOwnLocals] = value;
  }

  get chunkedEncoding(): boolean {
    return false;
  }

  get shouldKeepAlive(): boolean {
    return true;
  }

  get useChunkedEncodingByDefault(): boolean {
    return true;
  }

  get strictContentLength(): boolean {
    return false;
  }

  // ---- headers, as Node's OutgoingMessage keeps them -------------------------

  setHeader(name: string, value: HeaderValue): this {
    if (this[kState].head !== undefined) throw headersSent('set');
    validateHeaderName(name);
    validateHeaderValue(name, value as string);
    const lower = name.toLowerCase();
    this[kState].headers.set(lower, [name, value]);
    this[kState].removed?.delete(lower);
    this[kState].everSet = true;
    return this;
  }

  appendHeader(name: string, value: HeaderValue): this {
    if (this[kState].head !== undefined) throw headersSent('append');
    validateHeaderName(name);
    validateHeaderValue(name, value as string);
    const lower = name.toLowerCase();
    const existing = this[kState].headers.get(lower);
    if (existing === undefined) return this.setHeader(name, value);
    const before = Array.isArray(existing[1]) ? existing[1] : [String(existing[1])];
    existing[1] = before.concat(Array.isArray(value) ? (value as string[]) : [String(value)]);
    return this;
  }

  setHeaders(headers: Headers | Map<string, HeaderValue>): this {
    if (this[kState].head !== undefined) throw headersSent('set');
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
    return this[kState].headers.get(name.toLowerCase())?.[1];
  }

  getHeaders(): Record<string, HeaderValue> {
    const headers = Object.create(null) as Record<string, HeaderValue>;
    const { headers: own } = this[kState];
    const names = own.keys();
    const entries = own.values();
    for (let i = 0; i < names.length; i++) headers[names[i]!] = entries[i]![1];
    return headers;
  }

  getHeaderNames(): string[] {
    return this[kState].headers.keys().slice();
  }

  getRawHeaderNames(): string[] {
    return this[kState].headers.values().map(([name]) => name);
  }

  hasHeader(name: string): boolean {
    return this[kState].headers.has(name.toLowerCase());
  }

  removeHeader(name: string): void {
    if (typeof name !== 'string') throw nodeError('ERR_INVALID_ARG_TYPE', 'The "name" argument must be of type string', TypeError);
    if (this[kState].head !== undefined) throw headersSent('remove');
    const lower = name.toLowerCase();
    // As in Node, removing Date turns the Date header off.
    if (lower === 'date') this.sendDate = false;
    this[kState].headers.delete(lower);
    (this[kState].removed ??= new Set()).add(lower);
  }

  get headersSent(): boolean {
    return this[kState].head !== undefined;
  }

  get writableEnded(): boolean {
    return this.finished;
  }

  get writableFinished(): boolean {
    return this[kState].finishedEmitted;
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
    return this[kState].finishedEmitted || this.destroyed;
  }

  get errored(): null {
    return null;
  }

  get socket(): StandInSocket {
    return (this[kState].socket ??= new StandInSocket(this[kState].realSocket));
  }

  get connection(): StandInSocket {
    return this.socket;
  }

  // ---- the head -------------------------------------------------------------

  writeHead(statusCode: number, reason?: string | Record<string, HeaderValue> | readonly unknown[], headers?: Record<string, HeaderValue> | readonly unknown[]): this {
    if (this[kState].head !== undefined) throw headersSent('write');
    let given = headers;
    let message = this.statusMessage;
    if (typeof reason === 'string') message = reason;
    else given ??= reason;
    // As Node's writeHead: over headers set before, each given one is set (the last of a
    // name wins); with none set before, they are sent as given, repeated names and all.
    if (given !== undefined && given !== null) {
      const pairs: [string, HeaderValue][] = [];
      if (Array.isArray(given)) {
        if (!this[kState].everSet && given.length > 0 && Array.isArray(given[0])) {
          for (const pair of given as [string, HeaderValue][]) pairs.push(pair);
        } else {
          if (given.length % 2 !== 0) throw nodeError('ERR_INVALID_ARG_VALUE', "The argument 'headers' is invalid.", TypeError);
          for (let i = 0; i < given.length; i += 2) pairs.push([given[i] as string, given[i + 1] as HeaderValue]);
        }
      } else {
        for (const name of Object.keys(given)) pairs.push([name, (given as Record<string, HeaderValue>)[name]!]);
      }
      const raw = !this[kState].everSet;
      for (const [name, value] of pairs) {
        if (!name) continue;
        if (raw) this.appendHeader(name, value);
        else this.setHeader(name, value);
      }
    }
    fixHead(this, statusCode, message, true);
    return this;
  }

  writeHeader(statusCode: number, reason?: string | Record<string, HeaderValue>, headers?: Record<string, HeaderValue>): this {
    return this.writeHead(statusCode, reason, headers);
  }

  flushHeaders(): void {
    if (this[kState].head === undefined) fixHead(this, this.statusCode, this.statusMessage, true);
    sending(this, '', undefined);
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
    this[kState].trailers = trailers;
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
    const state = this[kState];
    const given = typeof encoding === 'string' ? encoding : undefined;
    if (state.head === undefined) fixHead(this, this.statusCode, this.statusMessage, true);
    sending(this, chunk, given);
    const kept = state.resolve !== undefined && record(this, chunk, given);
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
    const state = this[kState];
    if (this.finished) {
      if (done) {
        if (state.finishedEmitted) process.nextTick(done, nodeError('ERR_STREAM_ALREADY_FINISHED', 'Cannot call end after a stream was finished'));
        else this.once('finish', done);
      }
      return this;
    }
    const given = encoding as BufferEncoding | undefined;
    if (data !== undefined && data !== null) checkChunk(data);
    if (state.head === undefined) fixHead(this, this.statusCode, this.statusMessage, false);
    else sending(this, data || undefined, given);
    if (data !== undefined && data !== null && state.resolve !== undefined) record(this, data, given);
    this.finished = true;
    const resolve = state.resolve;
    state.resolve = state.reject = undefined;
    if (resolve !== undefined) resolve(toReplyOf(this));
    if (done) this.once('finish', done);
    // As a stream does, on a later tick; a tick costs, so only when someone listens.
    if (this.listenerCount('finish') > 0 || this.listenerCount('close') > 0 || this.listenerCount('prefinish') > 0) {
      process.nextTick(emitFinish, this);
    } else {
      state.finishedEmitted = true;
    }
    return this;
  }

  // ---- the rest of a writable ---------------------------------------------------

  destroy(error?: Error): this {
    abort(this, error ?? nodeError('ERR_STREAM_DESTROYED', 'The handler destroyed the response before it ended.'));
    return this;
  }

  setTimeout(_ms: number, callback?: () => void): this {
    if (callback) this.once('timeout', callback);
    return this;
  }

  cork(): void {}
  uncork(): void {}
}

// Fixes the status line as Node's writeHead() does: a status code from 100 to 999.
function fixHead(res: CaptureSurface, statusCode: unknown, message: string | undefined, early: boolean): void {
  const status = (statusCode as number) | 0;
  if (status < 100 || status > 999) {
    throw nodeError('ERR_HTTP_INVALID_STATUS_CODE', `Invalid status code: ${String(statusCode)}`, RangeError);
  }
  if (message !== undefined && /[^\t\x20-\x7e\x80-\xff]/.test(message)) {
    throw nodeError('ERR_INVALID_CHAR', 'Invalid character in statusMessage', TypeError);
  }
  res.statusCode = status;
  res.statusMessage = message || STATUS_CODES[status] || 'unknown';
  const state = res[kState];
  state.head = { status, message: message || undefined, early };
  if (early) state.chunkLengths = [];
}

function emitFinish(res: CaptureSurface): void {
  res[kState].finishedEmitted = true;
  res.emit('prefinish');
  res.emit('finish');
  res.emit('close');
}

// Node sends a head that went out before the end together with the first thing sent
// after it, in one string when that is a string: as UTF-8 (a header beyond ASCII is then
// UTF-8 on the wire) unless it was given as Latin-1. A chunk of a chunked body is sent
// after its size line, which is Latin-1; a Buffer, and an end() without data, likewise.
function sending(res: CaptureSurface, chunk: Chunk | undefined, encoding: BufferEncoding | undefined): void {
  const state = res[kState];
  if (state.utf8Head !== undefined || !state.head?.early) return;
  const text = typeof chunk === 'string' && (encoding === undefined || encoding === 'utf8' || encoding === 'utf-8');
  state.utf8Head = text && (chunk === '' || !chunked(res));
}

// Whether Node frames this body in chunks, as its _storeHeader decides for an early head.
function chunked(res: CaptureSurface): boolean {
  const { headers, head, removed } = res[kState];
  const te = headers.get('transfer-encoding');
  if (te !== undefined) return /(?:^|\W)chunked(?:$|\W)/i.test(String(te[1]));
  const status = head!.status;
  const bodiless = status === 204 || status === 304 || (status >= 100 && status < 200) || (res.req as { method?: string } | undefined)?.method === 'HEAD';
  return !bodiless && !headers.has('content-length') && !removed?.has('transfer-encoding');
}

// Records a chunk; false (and the capture fails) when it would pass the size bound. Bytes
// are kept as given, not copied: as with Node's own write(), the writer may not change a
// buffer it has written (the reply copies what it keeps).
function record(res: CaptureSurface, chunk: Chunk, encoding: BufferEncoding | undefined): boolean {
  const state = res[kState];
  const utf8 = typeof chunk === 'string' && (encoding === undefined || encoding === 'utf8' || encoding === 'utf-8');
  const piece: Chunk = typeof chunk === 'string' ? (utf8 ? chunk : Buffer.from(chunk, encoding)) : chunk;
  const length = typeof piece === 'string' ? Buffer.byteLength(piece) : piece.byteLength;
  if (length === 0) return true;
  state.bytes += length;
  if (state.bytes > state.maxBytes) {
    abort(res, new ReplyTooLargeError(state.maxBytes));
    return false;
  }
  (state.chunks ??= []).push(piece);
  state.chunkLengths?.push(length);
  return true;
}

function toReplyOf(res: CaptureSurface): Reply {
  const state = res[kState];
  const head = state.head!;
  return toReply({
    status: head.status,
    statusMessage: head.message,
    headers: state.headers,
    removed: state.removed,
    sendDate: res.sendDate,
    chunks: state.chunks ?? [],
    chunkLengths: state.chunkLengths,
    trailers: state.trailers,
    utf8Head: state.utf8Head === true,
  });
}

// Stops recording; with a reason, the reply rejects with it. The capture closes as a
// response whose client went away.
function abort(res: CaptureSurface, reason: unknown): void {
  const state = res[kState];
  const reject = state.reject;
  state.resolve = state.reject = undefined;
  if (reject !== undefined && reason !== undefined) reject(reason);
  // Ended already: nothing is in flight to stop.
  if (res.destroyed || res.finished) return;
  res.destroyed = true;
  res.writable = false;
  state.chunks = undefined;
  state.socket?.close();
  if (!state.finishedEmitted) res.emit('close');
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
const prototypes = new WeakMap<object, CaptureSurface>();

/** The capture's controls, beside its `res`. */
class CaptureHandle<T> implements Capture<T> {
  constructor(
    readonly res: T,
    readonly reply: Promise<Reply>,
  ) {}

  abort(reason?: unknown): void {
    abort(this.res as unknown as CaptureSurface, reason);
  }
}

/**
 * A response for a handler to write to, recorded for replay: an object whose prototype
 * chain is `base` (the app's `app.response`, so Express 4 or 5, whichever the app runs,
 * with every method the app added) over a surface that records what Node's
 * `ServerResponse` would have sent. Attach to `reply` at once: it may reject.
 *
 * `realSocket` lends the capture its addresses (`res.socket.remoteAddress`); the capture is
 * never tied to it.
 */
export function createCapture<T extends object>(base: T, init: CaptureInit, realSocket?: object | null): Capture<T> {
  let prototype = prototypes.get(base);
  if (prototype === undefined) {
    prototype = Object.create(base, surface) as CaptureSurface;
    prototypes.set(base, prototype);
  }
  const res = Object.create(prototype) as CaptureSurface & { req: unknown };
  const state = new CaptureState(init.maxBytes, (realSocket ?? undefined) as Partial<StandInSocket> | undefined, init.locals);
  res[kState] = state;
  res.req = init.req;
  res.statusCode = init.statusCode ?? 200;
  res.statusMessage = undefined;
  res.sendDate = true;
  res.finished = false;
  res.writable = true;
  res.destroyed = false;
  // Headers from a real response, which Node checked when they were set there.
  const initial = init.headers;
  if (initial !== undefined && initial.length > 0) {
    const { headers } = state;
    for (let i = 0; i + 1 < initial.length; i += 2) {
      const name = initial[i]!;
      const lower = name.toLowerCase();
      const existing = headers.get(lower);
      if (existing === undefined) headers.set(lower, [name, initial[i + 1]!]);
      else existing[1] = (Array.isArray(existing[1]) ? existing[1] : [String(existing[1])]).concat(initial[i + 1]!);
    }
    state.everSet = true;
  }
  const reply = new Promise<Reply>((resolve, reject) => {
    state.resolve = resolve;
    state.reject = reject;
  });
  return new CaptureHandle(res as unknown as T, reply);
}

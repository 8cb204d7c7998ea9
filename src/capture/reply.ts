import { isUtf8 } from 'node:buffer';
import type { Reply } from '../core/task.js';
import type { HeaderMap } from './header-map.js';

/** The state of a capture when its handler ended the response. */
export interface CapturedState {
  readonly status: number;
  readonly statusMessage: string | undefined;
  readonly headers: HeaderMap;
  readonly removed: ReadonlySet<string> | undefined;
  readonly sendDate: boolean;
  readonly chunks: readonly (string | Uint8Array)[];
  /** The byte length of each chunk, when the head was sent before the end. */
  readonly chunkLengths: readonly number[] | undefined;
  readonly trailers: readonly string[] | undefined;
  /** Whether Node sent the (early) head as UTF-8, with the first text written after it. */
  readonly utf8Head: boolean;
}

// Headers about the connection that carried a response, and the date it was sent: the
// replay's own connection and moment supply them.
const perTransfer = new Set(['connection', 'keep-alive', 'date']);

// The same header values recur in nearly every reply; one shared string for each keeps
// them out of every stored task.
const common = new Map(
  [
    'application/json; charset=utf-8',
    'text/html; charset=utf-8',
    'text/plain; charset=utf-8',
    'application/octet-stream',
    'Express',
    'Accept',
    'bytes',
    'no-store',
    'no-cache',
  ].map((value) => [value, value]),
);
const shared = (value: string): string => common.get(value) ?? value;

// Text bodies up to this size are kept as strings: a V8 string of ASCII or Latin-1 text
// costs a byte per character and no buffer.
const TEXT_LIMIT = 1 << 20;

// `asText`: bytes that are UTF-8 text may be kept as a string. Not when a header has
// characters beyond ASCII: Node writes the head of a response that ends with a string as
// UTF-8 together with it, and otherwise as Latin-1, so the replay must end as the handler did.
function bodyOf(chunks: readonly (string | Uint8Array)[], asText: boolean): string | Uint8Array | undefined {
  if (chunks.length === 0) return undefined;
  const only = chunks.length === 1 ? chunks[0]! : undefined;
  if (typeof only === 'string') return only;
  // One buffer of text (what res.send() writes) becomes a string without a copy of its bytes.
  if (only !== undefined && asText && only.byteLength <= TEXT_LIMIT && isUtf8(only)) {
    return Buffer.from(only.buffer, only.byteOffset, only.byteLength).toString('utf8');
  }
  let total = 0;
  for (const chunk of chunks) total += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
  // A buffer of its own: a slice of Node's shared pool would keep the whole pool alive.
  const bytes = Buffer.from(new ArrayBuffer(total));
  let offset = 0;
  for (const chunk of chunks) {
    offset += typeof chunk === 'string' ? bytes.write(chunk, offset) : (bytes.set(chunk, offset), chunk.byteLength);
  }
  if (only === undefined && asText && total <= TEXT_LIMIT && isUtf8(bytes)) return bytes.toString('utf8');
  return new Uint8Array(bytes.buffer, 0, total);
}

// A header value as the reply keeps it: one shared string for the common ones, and the
// others flat (V8 keeps a string built by concatenation, as an ETag is, as a tree of its
// pieces until something reads its characters).
function kept(value: unknown): string {
  const text = String(value);
  const common = shared(text);
  if (common === text) text.charCodeAt(0);
  return common;
}

const nonAscii = /[^\x00-\x7f]/;

/** The reply a capture recorded, as compact as the store keeps it. */
export function toReply(state: CapturedState): Reply {
  const { status } = state;
  const names = state.headers.keys();
  const entries = state.headers.values();
  let count = 0;
  for (let i = 0; i < names.length; i++) {
    const value = entries[i]![1];
    if (!perTransfer.has(names[i]!)) count += Array.isArray(value) ? (value as readonly string[]).length * 2 : 2;
  }
  // Of its exact length: an array grown by push() keeps spare room, and a reply may be kept for minutes.
  const headers = new Array<string>(count);
  let at = 0;
  let asciiHead = !nonAscii.test(state.statusMessage ?? '');
  for (let h = 0; h < names.length; h++) {
    if (perTransfer.has(names[h]!)) continue;
    const [name, value] = entries[h]!;
    const several = Array.isArray(value) ? (value as readonly string[]) : undefined;
    for (let i = 0; i < (several?.length ?? 1); i++) {
      const text = kept(several === undefined ? value : several[i]);
      if (asciiHead && nonAscii.test(text)) asciiHead = false;
      headers[at++] = name;
      headers[at++] = text;
    }
  }
  let removed = state.removed === undefined ? undefined : [...state.removed];
  if (!state.sendDate && !removed?.includes('date')) (removed ??= []).push('date');
  // Node sends no body with these, whatever was written.
  const bodiless = status === 204 || status === 304 || (status >= 100 && status < 200);
  const reply: { -readonly [K in keyof Reply]: Reply[K] } = { status, headers, body: bodiless ? undefined : bodyOf(state.chunks, asciiHead) };
  if (state.statusMessage !== undefined) reply.statusMessage = state.statusMessage;
  if (state.chunkLengths !== undefined && !bodiless) reply.chunks = state.chunkLengths.slice();
  if (removed !== undefined && removed.length > 0) reply.removed = removed;
  if (state.trailers !== undefined) reply.trailers = state.trailers.slice();
  // Only a head beyond ASCII reads differently as UTF-8.
  if (state.utf8Head && !asciiHead && reply.chunks !== undefined) reply.utf8Head = true;
  return reply;
}

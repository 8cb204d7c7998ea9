import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { IdempotencyKeyError } from '../core/errors.js';

// The Idempotency-Key request header (draft-ietf-httpapi-idempotency-key-header): a
// Structured Field string (`"8e03978e-…"`, RFC 9651 §3.3.3), or the bare token many clients
// send. Read in one pass; at most 255 characters of key.

const MAX_KEY = 255;

// tchar of RFC 9110 §5.6.2.
function isTokenChar(code: number): boolean {
  return (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    '!#$%&\'*+-.^_`|~'.includes(String.fromCharCode(code))
  );
}

/**
 * The key of an `Idempotency-Key` header value, or `undefined` when there is none. Throws
 * `IdempotencyKeyError` for a value that is neither a string nor a token, or a key longer
 * than 255 characters. Surrounding spaces are allowed, parameters are not.
 */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === '') throw new IdempotencyKeyError('The Idempotency-Key header is empty.');
  let key = '';
  if (value.charCodeAt(0) === 0x22) {
    // A string: printable ASCII, with \" and \\ escaped; nothing after its closing quote.
    let i = 1;
    for (; i < value.length; i++) {
      const code = value.charCodeAt(i);
      if (code === 0x5c) {
        const next = value.charCodeAt(++i);
        if (next !== 0x22 && next !== 0x5c) throw malformed();
        key += value[i];
      } else if (code === 0x22) break;
      else if (code < 0x20 || code > 0x7e) throw malformed();
      else key += value[i];
      if (key.length > MAX_KEY) throw tooLong();
    }
    if (i !== value.length - 1) throw malformed();
  } else {
    if (value.length > MAX_KEY) throw tooLong();
    for (let i = 0; i < value.length; i++) if (!isTokenChar(value.charCodeAt(i))) throw malformed();
    key = value;
  }
  if (key === '') throw new IdempotencyKeyError('The Idempotency-Key header has an empty key.');
  return key;
}

function malformed(): IdempotencyKeyError {
  return new IdempotencyKeyError('The Idempotency-Key header must be a quoted string ("8e03978e-…") or a token.');
}

function tooLong(): IdempotencyKeyError {
  return new IdempotencyKeyError(`An Idempotency-Key is at most ${MAX_KEY} characters.`);
}

/** A digest of what makes two requests the same: method, path with query, and body. */
export function requestFingerprint(method: string, url: string, body: unknown): string {
  const hash = createHash('sha256').update(method).update('\n').update(url).update('\n');
  if (body === undefined) hash.update('-');
  else if (typeof body === 'string') hash.update('s').update(body);
  else if (body instanceof Uint8Array) hash.update('b').update(body);
  // A parsed body: its contents, keys sorted, whatever they hold (cycles too).
  else hash.update('o').update(inspect(body, { depth: Infinity, sorted: true, maxArrayLength: Infinity, maxStringLength: Infinity, breakLength: Infinity }));
  return hash.digest('base64url');
}

/** The key as a store keeps it: scoped by owner and route, and of a bounded length. */
export function scopedKey(owner: string | undefined, route: string, key: string): string {
  return createHash('sha256')
    .update(owner === undefined ? '-' : `o${owner}`)
    .update('\n')
    .update(route)
    .update('\n')
    .update(key)
    .digest('base64url');
}

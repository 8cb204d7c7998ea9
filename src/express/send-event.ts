import type { Request } from 'express';
import { InvalidEventError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../core/errors.js';
import { toJson } from '../core/durable.js';
import { parseIdempotencyKey } from './idempotency-key.js';

const eventName = /^[A-Za-z0-9_.-]{1,64}$/;
// application/json, or a type of JSON (application/merge-patch+json…), with parameters or not.
const jsonType = /^\s*application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** An event's name from a monitor's path; a `400` problem for one that is not a name. */
export function eventNameOf(raw: string): string {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    name = raw;
  }
  if (!eventName.test(name)) throw new InvalidEventError(`An event's name is 1 to 64 characters of A-Z a-z 0-9 _ . -, got "${name.slice(0, 80)}".`);
  return name;
}

/**
 * The event a request sends, as JSON: the body the app's own parser made (`express.json()`,
 * whose errors the app answered already), or the body read here within `maxBytes`. It must be
 * `application/json` (or `+json`): a `415` otherwise, which also stops forms posted from
 * other sites. A body that is not JSON is a `400`, one too large a `413`.
 */
export async function eventOf(req: Request, maxBytes: number): Promise<string> {
  const type = req.headers['content-type'];
  if (type !== undefined && jsonType.test(type)) return toJson(await bodyOf(req, maxBytes), 'The event');
  throw new UnsupportedMediaTypeError(`An event is sent as application/json, got ${req.get('content-type') === undefined ? 'no Content-Type' : `"${req.get('content-type')}"`}.`);
}

async function bodyOf(req: Request, maxBytes: number): Promise<unknown> {
  // Parsed by the app: body-parser 1 (Express 4) marks it so; body-parser 2 (Express 5)
  // reads the request to its end and leaves the body.
  const parsed = (req as { _body?: unknown })._body === true || (req.readableEnded && req.body !== undefined);
  if (parsed) return req.body;
  if (req.readableEnded) throw new InvalidEventError('The body was read before the monitor, and not as JSON: send the event as application/json.');
  const text = await readText(req, maxBytes);
  if (text.trim() === '') throw new InvalidEventError('The event has no body: send its value as JSON (null for none).');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidEventError(`The event's body is not JSON: ${(error as Error).message}`, { cause: error });
  }
}

// The request's body as UTF-8 text, within `maxBytes`: past it, a 413, and the rest is not read.
function readText(req: Request, maxBytes: number): Promise<string> {
  const length = Number(req.headers['content-length']);
  if (Number.isFinite(length) && length > maxBytes) return Promise.reject(new PayloadTooLargeError(maxBytes));
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanUp();
        // The rest is drained, not kept, so that the answer can still be written.
        req.resume();
        reject(new PayloadTooLargeError(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanUp();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (error: Error): void => {
      cleanUp();
      reject(new InvalidEventError(`The event's body could not be read: ${error.message}`, { cause: error }));
    };
    const cleanUp = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** The `Idempotency-Key` of an event request, scoped by the event's name; `undefined` without one. */
export function eventKeyOf(req: Request, name: string): string | undefined {
  const header = req.headers['idempotency-key'];
  const key = parseIdempotencyKey(header === undefined ? undefined : req.get('idempotency-key'));
  return key === undefined ? undefined : `${name} ${key}`;
}

import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import fresh from 'fresh';
import parseRange from 'range-parser';
import vary from 'vary';
import type { Reply } from '../core/task.js';

/** What the replay needs of the request it answers: conditional and `Range` requests apply to the reply. */
export interface ReplayRequest {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
}

// The headers that make a request conditional or partial. The handler runs without them:
// they belong to whichever request reads the reply, and the replay applies them.
const conditional = ['if-none-match', 'if-modified-since', 'range', 'if-range'] as const;

/** `headers` without the conditional and `Range` headers; the same object when it has none. */
export function withoutConditionals<H extends IncomingHttpHeaders>(headers: H): H {
  const none =
    headers['if-none-match'] === undefined && headers['if-modified-since'] === undefined && headers.range === undefined && headers['if-range'] === undefined;
  if (none) return headers;
  const rest = { ...headers };
  for (const name of conditional) delete rest[name];
  return rest;
}

/** Headers added to an answer; a `Vary` is merged with the reply's own. */
export type ExtraHeaders = Readonly<Record<string, string>> | undefined;

export function setExtraHeaders(res: ServerResponse, headers: ExtraHeaders): void {
  if (headers === undefined) return;
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'Vary') vary(res, value);
    else res.setHeader(name, value);
  }
}

function find(reply: Reply, lower: string): string | undefined {
  const { headers } = reply;
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === lower) return headers[i + 1];
  return undefined;
}

function bytesOf(body: string | Uint8Array | undefined): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  return typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

// As Express's req.fresh (and send's isFresh): a GET or HEAD whose validators match a 2xx or 304.
function isFresh(res: ServerResponse, request: ReplayRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const status = res.statusCode;
  if (!((status >= 200 && status < 300) || status === 304)) return false;
  if (request.headers['if-none-match'] === undefined && request.headers['if-modified-since'] === undefined) return false;
  return fresh(request.headers, {
    etag: res.getHeader('ETag') as string | undefined,
    'last-modified': res.getHeader('Last-Modified') as string | undefined,
  });
}

// As send's isRangeFresh: an If-Range that names this representation, by ETag or by date.
function isRangeFresh(reply: Reply, request: ReplayRequest): boolean {
  const ifRange = request.headers['if-range'] as string | undefined;
  if (ifRange === undefined) return true;
  if (ifRange.includes('"')) {
    const etag = find(reply, 'etag');
    return etag !== undefined && ifRange.includes(etag);
  }
  const lastModified = Date.parse(find(reply, 'last-modified') ?? '');
  return !Number.isNaN(lastModified) && lastModified <= Date.parse(ifRange);
}

// The byte range asked for, as send serves ranges: one range of a 200 that accepts them.
function rangeOf(reply: Reply, request: ReplayRequest, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const header = request.headers.range;
  if (header === undefined || reply.status !== 200 || !/^ *bytes=/.test(header)) return undefined;
  if (request.method !== 'GET' && request.method !== 'HEAD') return undefined;
  if (!/\bbytes\b/i.test(find(reply, 'accept-ranges') ?? '') || !isRangeFresh(reply, request)) return undefined;
  const ranges = parseRange(size, header, { combine: true });
  if (ranges === -1) return 'unsatisfiable';
  if (ranges === -2 || ranges.length !== 1) return undefined;
  return ranges[0]!;
}

/**
 * Replays a recorded reply on a real response: its status, its headers (over what
 * middleware set on this response, less what the handler removed), its body, framed as
 * Node framed the original. A conditional request that the reply's validators satisfy
 * gets `304`, as Express answers one; a `Range` request to a reply with
 * `Accept-Ranges: bytes` (as `sendFile` sends) gets `206`, or `416`.
 */
export function replay(res: ServerResponse, reply: Reply, request: ReplayRequest | undefined, extra?: ExtraHeaders): void {
  res.statusCode = reply.status;
  if (reply.statusMessage !== undefined) res.statusMessage = reply.statusMessage;
  if (reply.removed !== undefined) for (const name of reply.removed) res.removeHeader(name);
  const list = reply.headers;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    if (list[i + 2] !== name) {
      res.setHeader(name, list[i + 1]!);
      continue;
    }
    // A header of several values: its name repeats, consecutively.
    const values = [list[i + 1]!];
    while (list[i + 2] === name) {
      i += 2;
      values.push(list[i + 1]!);
    }
    res.setHeader(name, values);
  }
  setExtraHeaders(res, extra);

  if (request !== undefined && isFresh(res, request)) {
    res.statusCode = 304;
    for (const name of ['Content-Type', 'Content-Length', 'Transfer-Encoding']) res.removeHeader(name);
    // A file's reply (send's) sheds its other content headers too.
    if (find(reply, 'accept-ranges') !== undefined) for (const name of ['Content-Encoding', 'Content-Language', 'Content-Range']) res.removeHeader(name);
    res.end();
    return;
  }
  if (request?.headers.range !== undefined && reply.body !== undefined) {
    const body = bytesOf(reply.body);
    const range = rangeOf(reply, request, body.length);
    if (range === 'unsatisfiable') {
      for (const name of res.getHeaderNames()) if (name.startsWith('content-')) res.removeHeader(name);
      const problem = JSON.stringify({ type: 'about:blank', title: 'Range Not Satisfiable', status: 416 });
      res.statusCode = 416;
      res.setHeader('Content-Range', `bytes */${body.length}`);
      res.setHeader('Content-Type', 'application/problem+json');
      res.setHeader('Content-Length', Buffer.byteLength(problem));
      res.end(problem);
      return;
    }
    if (range !== undefined) {
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${body.length}`);
      res.setHeader('Content-Length', range.end - range.start + 1);
      res.end(body.subarray(range.start, range.end + 1));
      return;
    }
  }

  // A HEAD has no body, so no trailers, and Node refuses a Trailer header without them.
  const head = request?.method === 'HEAD';
  if (head) res.removeHeader('Trailer');
  const trailers = head ? undefined : reply.trailers;
  if (reply.chunks === undefined) {
    if (trailers !== undefined) res.addTrailers(pairs(trailers));
    res.end(reply.body);
    return;
  }
  // The head went out before the body: so again, chunk by chunk.
  res.writeHead(res.statusCode);
  // Sends the head as Node sent it: with an empty text, as UTF-8.
  if (reply.utf8Head) res.write('');
  const body = bytesOf(reply.body);
  let offset = 0;
  for (const length of reply.chunks) {
    res.write(body.subarray(offset, offset + length));
    offset += length;
  }
  if (trailers !== undefined) res.addTrailers(pairs(trailers));
  res.end();
}

function pairs(list: readonly string[]): [string, string][] {
  const result: [string, string][] = [];
  for (let i = 0; i + 1 < list.length; i += 2) result.push([list[i]!, list[i + 1]!]);
  return result;
}

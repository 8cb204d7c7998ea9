import type { Request } from 'express';
import { jsonSize } from '../core/definitions.js';

/**
 * The route a request matched, as the same string in every process: its method, mount path
 * and pattern (`POST /api/reports/:kind`). Never the raw path, so that it can label tasks
 * and metrics without growing with every id in a URL; a handler mounted with `app.use()`
 * (no pattern) is `<method> <mount path>/*`.
 */
export function routeName(req: Request): string {
  const pattern = (req as { route?: { path?: unknown } }).route?.path;
  const base = req.baseUrl;
  if (pattern === undefined) return intern(`${req.method} ${base}/*`);
  const path = String(pattern);
  return intern(`${req.method} ${base === '' ? path : path === '/' ? base : base + path}`);
}

// One string per route name, shared by its tasks (each held its own copy: 32 bytes a task).
// Bounded: past so many names, a name is used as it is.
const names = new Map<string, string>();
const MAX_NAMES = 10_000;

function intern(name: string): string {
  const known = names.get(name);
  if (known !== undefined) return known;
  if (names.size < MAX_NAMES) names.set(name, name);
  return name;
}

/**
 * The size of a request's body as the bound of `maxRerunBytes` measures it: its
 * `Content-Length`, or, parsed without one, its JSON (a Buffer's length).
 */
export function bodySize(req: Request): number {
  const length = req.headers['content-length'];
  if (length !== undefined && /^\d+$/.test(length)) return Number(length);
  const body = req.body as unknown;
  if (Buffer.isBuffer(body)) return body.length;
  if (typeof body === 'string') return Buffer.byteLength(body);
  return jsonSize(body);
}

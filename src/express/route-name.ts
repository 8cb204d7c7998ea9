import type { Request } from 'express';
import { jsonSize } from '../core/definitions.js';

// The route a request matched, by its patterns: `POST /users/:uid/reports/:kind`. Express keeps
// the pattern of a route (`req.route.path`) but not those of the paths its Routers were mounted
// at: `req.baseUrl` holds their values (`/users/42`). A name that held them would label tasks
// and metrics with one value per user. So the mount layers between the app and the route are
// found once per route, in the app's own router stack, and each request's `baseUrl` is read
// through their patterns.

// What this module reads of Express's router layers, in Express 4 (`regexp`, `keys`) and 5
// (router 2: `matchers`, `rawPath`): undocumented, so each is checked before use, and a
// layer that has neither is read by the fallback (the values of `req.params`).
interface Layer {
  readonly handle?: unknown;
  readonly route?: unknown;
  // Express 4.
  readonly regexp?: RegExp & { fast_slash?: boolean };
  readonly keys?: readonly { readonly name: string | number }[];
  // Express 5.
  readonly matchers?: readonly ((path: string) => { path: string } | false)[];
  readonly rawPath?: unknown;
}

interface Stacked {
  readonly stack?: readonly Layer[];
}

/** A route's mount layers, from the app's router to the one that holds the route, and what is known of their names. */
interface Mounts {
  /** Every way the app reaches the route: the mount layers of each, outermost first. */
  readonly chains: readonly (readonly Layer[])[];
  /** The name by method, when it is the same for every request (no mount parameters). */
  readonly fixed: Map<string, string> | undefined;
}

// Per route (Express's Route object), or per handler mounted with app.use() (no route).
const mounts = new WeakMap<object, Mounts>();

/**
 * The route a request matched, as the same string in every process and for every request of
 * the route: its method, mount path and pattern, patterns all (`POST /users/:uid/reports/:kind`).
 * Never a path parameter's value, so that it can label tasks and metrics. A handler mounted with
 * `app.use()` (no route) is `<method> <mount path>/*`. `handler` is the middleware that was
 * called (found in the stack when there is no route); `name`, the route option, replaces it all.
 */
export function routeName(req: Request, handler: object, name?: string): string {
  if (name !== undefined) return name;
  const route = (req as { route?: { path?: unknown } }).route;
  const target: object = route ?? handler;
  let known = mounts.get(target);
  if (known === undefined) {
    known = findMounts(req, target);
    mounts.set(target, known);
  }
  const fixed = known.fixed?.get(req.method);
  if (fixed !== undefined) return fixed;
  const base = mountPattern(req, known);
  const full = route === undefined ? `${req.method} ${base}/*` : join(req.method, base, String(route.path));
  if (known.fixed !== undefined && known.fixed.size < 32) known.fixed.set(req.method, full);
  return full;
}

function join(method: string, base: string, path: string): string {
  return `${method} ${base === '' ? path : path === '/' ? base : base + path}`;
}

// The mount path of the request, its values replaced by the names of their parameters.
function mountPattern(req: Request, known: Mounts): string {
  const base = req.baseUrl;
  if (base === '') return '';
  const app = req.app as unknown as { parent?: unknown; path?: () => string } | undefined;
  for (const chain of known.chains) {
    const own = readChain(chain, base);
    if (own !== undefined) return own;
    if (app?.parent === undefined) continue;
    // In an app mounted in another, the route's mount layers consume the end of the mount
    // path; the app's own mount paths (its `path()`: their patterns) what comes before.
    for (let start = base.indexOf('/', 1); start > 0; start = base.indexOf('/', start + 1)) {
      const tail = readChain(chain, base.slice(start));
      if (tail !== undefined) return appPattern(req, base.slice(0, start), app) + tail;
    }
    if (chain.length === 0) return appPattern(req, base, app);
  }
  return byParams(req, base);
}

// The patterns of the layers of `chain`, read over `path`, which they must consume exactly.
function readChain(chain: readonly Layer[], path: string): string | undefined {
  let rest = path;
  let pattern = '';
  for (const layer of chain) {
    const read = readLayer(layer, rest);
    if (read === undefined) return undefined;
    pattern += read.pattern;
    rest = rest.slice(read.consumed);
  }
  return rest === '' ? pattern : undefined;
}

// One mount layer over the start of `path`: how much of it the layer matched (as `baseUrl`
// holds it, without a trailing slash), and that part with its parameters' names for values.
function readLayer(layer: Layer, path: string): { consumed: number; pattern: string } | undefined {
  if (layer.matchers !== undefined) {
    // Express 5: the matcher, and the pattern it was made from.
    for (let i = 0; i < layer.matchers.length; i++) {
      const match = layer.matchers[i]!(path);
      if (match === false) continue;
      const matched = match.path.endsWith('/') ? match.path.slice(0, -1) : match.path;
      const raw = Array.isArray(layer.rawPath) ? (layer.rawPath as unknown[])[i] : layer.rawPath;
      const pattern = typeof raw === 'string' ? (raw.endsWith('/') ? raw.slice(0, -1) : raw) : String(raw);
      return { consumed: matched.length, pattern: matched === '' ? '' : pattern };
    }
    return undefined;
  }
  const { regexp, keys } = layer;
  if (regexp === undefined || keys === undefined) return undefined;
  // Express 4: the layer's regular expression, with the indices of its groups.
  if (regexp.fast_slash === true) return { consumed: 0, pattern: '' };
  const match = withIndices(regexp).exec(path);
  if (match === null || match.index !== 0) return undefined;
  const matched = match[0].endsWith('/') ? match[0].slice(0, -1) : match[0];
  let pattern = '';
  let at = 0;
  for (let group = 1; group < match.length; group++) {
    const span = match.indices?.[group];
    const key = keys[group - 1];
    if (span === undefined || key === undefined || span[0] < at || span[1] > matched.length) continue;
    pattern += `${matched.slice(at, span[0])}:${String(key.name)}`;
    at = span[1];
  }
  return { consumed: matched.length, pattern: pattern + matched.slice(at) };
}

const indexed = new WeakMap<RegExp, RegExp>();

function withIndices(regexp: RegExp): RegExp {
  let copy = indexed.get(regexp);
  if (copy === undefined) indexed.set(regexp, (copy = new RegExp(regexp.source, regexp.flags.replace('g', '') + 'd')));
  return copy;
}

// The part of the mount path that an app mounted in another consumed: the patterns of its
// mount paths when they have as many segments, else the values replaced by name.
function appPattern(req: Request, prefix: string, app: { path?: () => string } | undefined): string {
  const path = typeof app?.path === 'function' ? app.path() : undefined;
  if (typeof path === 'string' && path.split('/').length === prefix.split('/').length) return path;
  return byParams(req, prefix);
}

// The fallback: the segments that hold a value of `req.params` get the parameter's name.
function byParams(req: Request, path: string): string {
  const params = req.params as Record<string, unknown> | undefined;
  if (params === undefined) return path;
  const names = new Map<string, string>();
  for (const [key, value] of Object.entries(params)) if (typeof value === 'string' && value !== '') names.set(encodeURIComponent(value), key);
  if (names.size === 0) return path;
  return path
    .split('/')
    .map((segment) => {
      const key = names.get(segment);
      return key === undefined ? segment : `:${key}`;
    })
    .join('/');
}

// Finds the mount layers that lead from the request's app to the route (or handler), in its
// router stack: every way, when a Router is mounted at more than one path.
function findMounts(req: Request, target: object): Mounts {
  const app = req.app as unknown as { _router?: Stacked; router?: Stacked; parent?: unknown } | undefined;
  let root: Stacked | undefined;
  try {
    // Express 4 keeps it as _router; Express 5's `router` getter makes it on first use.
    root = app?._router ?? app?.router;
  } catch {
    root = undefined;
  }
  const chains: Layer[][] = [];
  if (root?.stack !== undefined) walk(root.stack, [], target, chains, new Set());
  // A name is the same for every request when no mount layer has parameters and the app is no
  // other app's: then it is kept per method.
  const plain = chains.length === 1 && app?.parent === undefined && chains[0]!.every(isPlain);
  return { chains, fixed: plain ? new Map() : undefined };
}

function walk(stack: readonly Layer[], path: Layer[], target: object, chains: Layer[][], seen: Set<unknown>): void {
  for (const layer of stack) {
    if (layer.route === target) chains.push(path);
    else if (layer.handle === target) chains.push([...path, layer]);
    else {
      const inner = (layer.handle as Stacked | undefined)?.stack;
      if (Array.isArray(inner) && layer.route === undefined && !seen.has(inner)) {
        seen.add(inner);
        walk(inner as Layer[], [...path, layer], target, chains, seen);
        seen.delete(inner);
      }
    }
  }
}

function isPlain(layer: Layer): boolean {
  if (layer.matchers !== undefined) {
    const paths = Array.isArray(layer.rawPath) ? (layer.rawPath as unknown[]) : [layer.rawPath];
    return paths.length === 1 && typeof paths[0] === 'string' && !/[:*?(){}]/.test(paths[0]);
  }
  return layer.keys !== undefined && layer.keys.length === 0 && layer.regexp !== undefined;
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

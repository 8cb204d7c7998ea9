import { fileURLToPath } from 'node:url';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { TaskAdmin } from '../core/admin.js';
import { AsyncApiError, ForbiddenError, InvalidOptionError, InvalidQueryError } from '../core/errors.js';
import { checkKeys, describe, type Configuration } from '../core/options.js';
import { problemTypes } from '../core/problem.js';
import { answerError, sendProblem } from '../express/answers.js';
import type { TaskQuery } from '../core/task-query.js';
import type { TaskStatus } from '../core/task.js';
import { statsDocument, taskDetail, taskSummary } from './documents.js';
import type { BulkResult, CountResult, TasksEvent } from './wire.js';
import type { BulkQuery } from '../core/admin.js';
import { eventNameOf, eventOf } from '../express/send-event.js';

/** Options of `tasks.dashboard()`. */
export interface DashboardOptions<Req = Request> {
  /** No cancel, retry or delete: the API refuses them (403) and the page shows no buttons. Default `false`. */
  readOnly?: boolean;
  /**
   * Whether a request may see the dashboard at all; others get a `403` problem. Default: only
   * requests whose connection comes from the loopback address and that no proxy forwarded
   * (no `Forwarded` or `X-Forwarded-For`). Behind your own auth, pass `() => true`.
   */
  authorize?: (req: Req) => boolean | Promise<boolean>;
  /** The page's title. Default `'Tasks'`. */
  title?: string;
}

const loopback = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

function fromThisMachine(req: Request): boolean {
  const address = req.socket.remoteAddress;
  const forwarded = req.headers.forwarded !== undefined || req.headers['x-forwarded-for'] !== undefined;
  return address !== undefined && loopback.has(address) && !forwarded;
}

// Where the page's built files are: beside this module in dist/ (the build puts them there).
const assets: Record<string, { file: string; type: string }> = {
  'dashboard.js': { file: fileURLToPath(new URL('./dashboard/dashboard.js', import.meta.url)), type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { file: fileURLToPath(new URL('./dashboard/dashboard.css', import.meta.url)), type: 'text/css; charset=utf-8' },
};

/** The page's policy: its own files only, no inline script or style, no framing. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (char) => escapes[char]!);

function page(title: string, readOnly: boolean): string {
  const safe = escapeHtml(title);
  return (
    `<!doctype html><html lang="en" data-read-only="${readOnly}"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"><title>${safe}</title>` +
    `<link rel="stylesheet" href="assets/dashboard.css"></head>` +
    `<body><div id="app" data-title="${safe}"></div><script src="assets/dashboard.js" defer></script></body></html>`
  );
}

const queryNames = ['status', 'route', 'owner', 'id', 'text', 'from', 'to', 'waiting', 'limit', 'cursor'];

// The list's query from the URL's own query string (not req.query: Express 4 and 5 parse it
// differently), checked as far as HTTP goes; the store checks the rest.
export function parseListQuery(search: string, paging: boolean): TaskQuery {
  const params = new URLSearchParams(search);
  const query: { -readonly [K in keyof TaskQuery]: TaskQuery[K] } = {};
  for (const name of new Set(params.keys())) {
    if (!queryNames.includes(name) || (!paging && (name === 'limit' || name === 'cursor'))) {
      throw new InvalidQueryError(`Unknown query parameter "${name}"; expected ${queryNames.filter((one) => paging || (one !== 'limit' && one !== 'cursor')).join(', ')}`);
    }
    const values = params.getAll(name);
    if (name === 'status') {
      query.status = values.flatMap((value) => value.split(',')).filter((value) => value !== '') as TaskStatus[];
      continue;
    }
    if (values.length > 1) throw new InvalidQueryError(`Query parameter "${name}" is given ${values.length} times; give it once`);
    const value = values[0]!;
    if (value === '') continue;
    if (name === 'from' || name === 'to') {
      const at = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
      if (Number.isNaN(at)) throw new InvalidQueryError(`Query parameter "${name}" must be a time (ISO 8601, or milliseconds since the epoch), got ${describe(value)}`);
      query[name] = at;
    } else if (name === 'waiting') {
      if (value !== 'true' && value !== 'false') throw new InvalidQueryError(`Query parameter "waiting" must be true or false, got ${describe(value)}`);
      query.waiting = value === 'true';
    } else if (name === 'limit') {
      if (!/^\d{1,4}$/.test(value)) throw new InvalidQueryError(`Query parameter "limit" must be a whole number from 1 to 500, got ${describe(value)}`);
      query.limit = Number(value);
    } else {
      query[name as 'route' | 'owner' | 'id' | 'text' | 'cursor'] = value;
    }
  }
  return query;
}

// A bulk action's query: the list's filters (no paging), and all=true to act on every task.
function parseBulkQuery(search: string): BulkQuery {
  const params = new URLSearchParams(search);
  const all = params.get('all');
  if (all !== null && all !== 'true' && all !== 'false') throw new InvalidQueryError(`Query parameter "all" must be true or false, got ${describe(all)}`);
  params.delete('all');
  const rest = params.toString();
  const query = parseListQuery(rest === '' ? '' : `?${rest}`, false);
  return all === 'true' ? { ...query, all: true } : query;
}

// Mutations come from the dashboard's own page: JSON, from the same origin. A form posted
// from another site can send neither.
function checkMutation(req: Request): void {
  const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new ForbiddenError('Changes to tasks must be sent as application/json, from the dashboard’s own origin.');
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined) {
    if (site !== 'same-origin') throw new ForbiddenError(`Changes to tasks must come from the dashboard’s own origin (Sec-Fetch-Site: ${site}).`);
    return;
  }
  const origin = req.headers.origin;
  let host: string | undefined;
  try {
    host = origin === undefined ? undefined : new URL(origin).host;
  } catch {
    host = undefined;
  }
  if (host === undefined || host !== req.headers.host) throw new ForbiddenError('Changes to tasks must come from the dashboard’s own origin (Origin or Sec-Fetch-Site).');
}

type Settings = Pick<Configuration, 'heartbeat' | 'retryAfter' | 'exposeErrors' | 'maxEvents' | 'maxEventBytes'>;

/**
 * The dashboard: its page, its files and its JSON API, under wherever it is mounted. Every
 * answer is refused (403) unless `authorize` allows the request; errors are RFC 9457
 * problem documents.
 */
export function createDashboard(admin: TaskAdmin, config: Settings, options: DashboardOptions = {}): RequestHandler {
  const given = checkKeys(options, ['readOnly', 'authorize', 'title'], 'dashboard options');
  const readOnly = given.readOnly ?? false;
  if (typeof readOnly !== 'boolean') throw new InvalidOptionError(`dashboard options.readOnly must be true or false, got ${describe(readOnly)}`);
  const authorize = (given.authorize ?? fromThisMachine) as (req: Request) => boolean | Promise<boolean>;
  if (typeof authorize !== 'function') throw new InvalidOptionError(`dashboard options.authorize must be a function, got ${describe(authorize)}`);
  const title = given.title ?? 'Tasks';
  if (typeof title !== 'string' || title === '') throw new InvalidOptionError(`dashboard options.title must be a non-empty string, got ${describe(title)}`);
  const html = page(title, readOnly);

  async function answer(req: Request, res: Response): Promise<void> {
    if ((await authorize(req)) !== true) throw new ForbiddenError('This dashboard is not for this request: by default only requests from this machine may see it (see the authorize option).');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const path = req.path;
    const search = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const only = (allowed: string): boolean => {
      if (allowed.split(', ').includes(method)) return true;
      res.setHeader('Allow', allowed);
      sendProblem(res, { status: 405, type: problemTypes.methodNotAllowed, title: 'Method not allowed', detail: `${req.method} is not allowed here; use ${allowed}.`, expose: true }, undefined, config);
      return false;
    };

    if (path === '/') {
      if (!only('GET, HEAD')) return;
      // The page's files and API are relative to it: its URL ends with a slash.
      const pathname = req.originalUrl.split('?')[0]!;
      if (!pathname.endsWith('/')) return res.redirect(301, `${pathname}/${search}`);
      res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.setHeader('Cache-Control', 'no-cache');
      res.type('html').send(html);
      return;
    }
    if (path.startsWith('/assets/')) {
      const asset = assets[path.slice('/assets/'.length)];
      if (asset === undefined) throw new NothingHereError(path);
      if (!only('GET, HEAD')) return;
      await new Promise<void>((resolve, reject) =>
        res.sendFile(asset.file, { headers: { 'Content-Type': asset.type, 'Cache-Control': 'no-cache' } }, (error) => (error ? reject(error) : resolve())),
      );
      return;
    }
    res.setHeader('Cache-Control', 'no-store');
    if (path === '/api/tasks/count') {
      if (!only('GET, HEAD')) return;
      res.json({ count: await admin.count(parseListQuery(search, false)) } satisfies CountResult);
      return;
    }
    // Bulk actions, on the tasks the list's filters match (task ids are UUIDs: not these names).
    if (path === '/api/tasks/cancel' || path === '/api/tasks/rewind' || (path === '/api/tasks' && method === 'DELETE')) {
      if (path !== '/api/tasks' && !only('POST')) return;
      if (readOnly) throw new ForbiddenError('This dashboard is read-only.');
      checkMutation(req);
      const query = parseBulkQuery(search);
      const result = path === '/api/tasks/cancel' ? await admin.cancelMany(query) : path === '/api/tasks/rewind' ? await admin.rewindMany(query) : await admin.deleteMany(query);
      res.json({ matched: result.matched, done: result.done, skipped: result.skipped } satisfies BulkResult);
      return;
    }
    if (path === '/api/tasks') {
      if (!only('GET, HEAD, DELETE')) return;
      const page = await admin.list(parseListQuery(search, true));
      // Not res.json(): its ETag (a SHA-1 of the page) is of no use to an answer that is no-store.
      const body = JSON.stringify({ tasks: page.tasks.map(taskSummary), next: page.next ?? null });
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end(body);
      return;
    }
    if (path === '/api/stats') {
      if (!only('GET, HEAD')) return;
      res.json(statsDocument(await admin.stats()));
      return;
    }
    if (path === '/api/events') {
      if (!only('GET, HEAD')) return;
      return streamChanges(req, res, parseListQuery(search, false));
    }
    const match = /^\/api\/tasks\/([^/]+)(?:\/(retry|rewind)|\/events\/([^/]+))?\/?$/.exec(path);
    if (match !== null) {
      let id: string;
      try {
        id = decodeURIComponent(match[1]!);
      } catch {
        // Broken percent-encoding: no task has such an id.
        throw new NothingHereError(path);
      }
      const [, , action, event] = match;
      if (action !== undefined || event !== undefined) {
        if (!only('POST')) return;
        if (readOnly) throw new ForbiddenError('This dashboard is read-only.');
        checkMutation(req);
        if (event !== undefined) {
          const name = eventNameOf(event);
          const task = await admin.sendEvent(id, name, await eventOf(req, config.maxEventBytes), config);
          res.status(202).json({ task: taskSummary(task) });
          return;
        }
        if (action === 'rewind') {
          res.json({ task: taskSummary(await admin.rewind(id)) });
          return;
        }
        const task = await admin.rerun(id);
        // (Relative to …/api/tasks/<id>/retry: the new task's own URL in the API.)
        res.status(201).location(`../${encodeURIComponent(task.id)}`).json({ task: taskSummary(task) });
        return;
      }
      if (!only('GET, HEAD, DELETE')) return;
      if (method === 'GET') {
        res.json(taskDetail(await admin.get(id)));
        return;
      }
      if (readOnly) throw new ForbiddenError('This dashboard is read-only.');
      checkMutation(req);
      const { task, action: done } = await admin.remove(id);
      res.json({ task: taskSummary(task), action: done });
      return;
    }
    throw new NothingHereError(path);
  }

  // The changes of the tasks the page shows, as Server-Sent Events (see TaskAdmin.follow).
  async function streamChanges(req: Request, res: Response, query: TaskQuery): Promise<void> {
    let counts = JSON.stringify(await admin.counts());
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write(`event: counts\ndata: ${counts}\n\n`);
    let closed = false;
    const stop = admin.follow(query, (changes) => {
      if (closed) return;
      if (changes.tasks.length > 0 || changes.removed.length > 0 || changes.skipped !== undefined) {
        const event: TasksEvent = { tasks: changes.tasks.map(taskSummary), removed: [...changes.removed] };
        if (changes.skipped !== undefined) event.skipped = changes.skipped;
        res.write(`event: tasks\ndata: ${JSON.stringify(event)}\n\n`);
      }
      admin.counts().then(
        (current) => {
          const now = JSON.stringify(current);
          if (closed || now === counts) return;
          counts = now;
          res.write(`event: counts\ndata: ${now}\n\n`);
        },
        () => {},
      );
    });
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), config.heartbeat);
    heartbeat.unref();
    res.on('close', () => {
      closed = true;
      clearInterval(heartbeat);
      stop();
    });
  }

  // Errors as the monitor answers them: the library's 4xx and 503 as problems, others to `next`.
  return function asyncApiDashboard(req: Request, res: Response, next: NextFunction): void {
    answer(req, res).catch((error: unknown) => answerError(res, next, error, undefined, config));
  };
}

// Nothing of the dashboard's is at this path.
class NothingHereError extends AsyncApiError {
  constructor(path: string) {
    super(`The dashboard has nothing at ${path}.`, { code: 'ERR_NOT_FOUND', status: 404, title: 'Not found', expose: true });
  }
}



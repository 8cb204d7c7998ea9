import type { ServerResponse } from 'node:http';
import type { Request } from 'express';
import { withoutConditionals } from '../capture/replay.js';
import type { AppSettings, ModuleJob, RequestSnapshot, ResponseSnapshot } from '../core/backend.js';

/**
 * The request as plain data for a handler module: what Express parsed and computed,
 * copied, so it can be cloned to a worker thread or queued for a worker process.
 */
// The request's own objects, not copies: a snapshot is cloned when it goes to a thread or
// into a queue, and until then a queued task should cost no more than it must.
const none: readonly string[] = Object.freeze([]);
const noneOr = (list: string[]): readonly string[] => (list.length === 0 ? none : list);

export function snapshotRequest(req: Request): RequestSnapshot {
  const snapshot: { -readonly [K in keyof RequestSnapshot]: RequestSnapshot[K] } = {
    method: req.method,
    url: req.url,
    originalUrl: req.originalUrl,
    baseUrl: req.baseUrl,
    path: req.path,
    params: req.params,
    query: req.query as Record<string, unknown>,
    body: req.body as unknown,
    headers: withoutConditionals(req.headers),
    ip: req.ip,
    ips: noneOr(req.ips),
    protocol: req.protocol,
    hostname: req.hostname,
    subdomains: noneOr(req.subdomains),
  };
  const { cookies, signedCookies } = req as { cookies?: Record<string, unknown>; signedCookies?: Record<string, unknown> };
  if (cookies !== undefined) snapshot.cookies = cookies;
  if (signedCookies !== undefined) snapshot.signedCookies = signedCookies;
  return snapshot;
}

/** The headers set on a response so far, `[name, value, …]` with names as they were given. */
export function headerList(res: ServerResponse): string[] {
  const list: string[] = [];
  // Node 15.13+; not yet in @types/node.
  for (const name of (res as ServerResponse & { getRawHeaderNames(): string[] }).getRawHeaderNames()) {
    const value = res.getHeader(name);
    if (Array.isArray(value)) for (const one of value) list.push(name, String(one));
    else if (value !== undefined) list.push(name, String(value));
  }
  return list;
}

/** The response as middleware left it: the handler starts from there. */
export function snapshotResponse(res: ServerResponse): ResponseSnapshot {
  return { statusCode: res.statusCode, headers: headerList(res) };
}

const settingNames = ['etag', 'json spaces', 'json escape', 'jsonp callback name'] as const;

// The last settings of each app: the same object for every task while they do not change.
const lastSettings = new WeakMap<object, AppSettings>();

/** The app's settings that shape what `res` sends, where they are plain values. */
export function snapshotSettings(req: Request): AppSettings {
  const settings: Record<string, string | number | boolean> = {};
  const app = req.app as { get?: (name: string) => unknown } | undefined;
  if (typeof app?.get !== 'function') return settings;
  for (const name of settingNames) {
    const value = app.get(name);
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') settings[name] = value;
  }
  const last = lastSettings.get(app);
  if (last !== undefined && settingNames.every((name) => last[name] === settings[name])) return last;
  lastSettings.set(app, settings);
  return settings;
}

/** The job of a handler module for this request. */
export function moduleJob(module: string, exportName: string, req: Request, res: ServerResponse, maxReplyBytes: number): ModuleJob {
  return {
    module,
    exportName,
    request: snapshotRequest(req),
    response: snapshotResponse(res),
    settings: snapshotSettings(req),
    maxReplyBytes,
  };
}

import type { Request } from 'express';
import type { RequestSnapshot } from '../core/backend.js';

/**
 * The request as plain data for a handler module: what Express parsed, copied, so it
 * can be cloned to a worker thread or queued for a worker process.
 */
export function snapshotRequest(req: Request): RequestSnapshot {
  return {
    method: req.method,
    url: req.url,
    originalUrl: req.originalUrl,
    baseUrl: req.baseUrl,
    path: req.path,
    params: { ...req.params },
    // Express 5 parses the query on each read; a copy is read once.
    query: { ...(req.query as Record<string, unknown>) },
    body: req.body as unknown,
    headers: { ...req.headers },
    ip: req.ip,
    protocol: req.protocol,
    hostname: req.hostname,
  };
}

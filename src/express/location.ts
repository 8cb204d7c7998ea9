import type { Request } from 'express';
import { InvalidArgumentError } from '../core/errors.js';
import { describe, type Configuration } from '../core/options.js';

/**
 * The monitor URL of task `id` for a request: the `location` option's, or the mount path
 * of the Router or app that holds the route (`req.baseUrl`, parameters and all) plus
 * `statusPath`. Never `//…`, which a client would read as another host.
 */
export function monitorLocation(req: Request, config: Pick<Configuration<Request>, 'location' | 'statusPath'>, id: string): string {
  if (config.location !== undefined) {
    const location = config.location(req, id);
    if (typeof location !== 'string' || location === '') {
      throw new InvalidArgumentError(`options.location must return a URL string, got ${describe(location)}`);
    }
    return location;
  }
  const base = req.baseUrl.endsWith('/') ? req.baseUrl.slice(0, -1) : req.baseUrl;
  return `${base}${config.statusPath}/${id}`;
}

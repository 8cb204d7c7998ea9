import type { Request } from 'express';
import { InvalidArgumentError } from '../core/errors.js';
import { describe, type Configuration } from '../core/options.js';

/** The owner of a request under the `owner` option; throws when the option's function misbehaves. */
export function ownerOf(req: Request, config: Configuration<Request>): string | undefined {
  if (config.owner === undefined) return undefined;
  const owner = config.owner(req);
  if (owner !== undefined && typeof owner !== 'string') {
    throw new InvalidArgumentError(`options.owner must return a string or undefined, got ${describe(owner)}`);
  }
  return owner;
}

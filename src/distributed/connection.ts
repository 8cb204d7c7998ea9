import type { RedisOptions } from 'ioredis';
import { InvalidOptionError } from '../core/errors.js';
import { describe } from '../core/options.js';

/** Where Redis is: ioredis options (`{ host, port, … }`), or a `redis://` URL. */
export type RedisConnection = RedisOptions | string;

/** ioredis options from a connection as given; errors name `where`. */
export function redisOptions(connection: unknown, where: string): RedisOptions {
  if (typeof connection === 'string') {
    let url: URL;
    try {
      url = new URL(connection);
    } catch {
      throw new InvalidOptionError(`${where} must be ioredis options or a redis:// URL, got ${describe(connection)}`);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new InvalidOptionError(`${where} must be a redis:// or rediss:// URL, got ${describe(connection)}`);
    }
    return {
      host: url.hostname,
      port: url.port ? Number(url.port) : 6379,
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
      ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    };
  }
  if (typeof connection !== 'object' || connection === null || Array.isArray(connection)) {
    throw new InvalidOptionError(`${where} must be ioredis options or a redis:// URL, got ${describe(connection)}`);
  }
  return connection as RedisOptions;
}

/** The name of a queue, checked. */
export function queueName(value: unknown, where: string): string {
  if (typeof value !== 'string' || !/^[\w.-]+$/.test(value)) {
    throw new InvalidOptionError(`${where} must be a queue name (letters, digits, _ . -), got ${describe(value)}`);
  }
  return value;
}

/** The prefix of the task store's keys for a queue: web and worker processes derive the same one. */
export function storePrefix(queue: string): string {
  return `express-async-api:${queue}`;
}

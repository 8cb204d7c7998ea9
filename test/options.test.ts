import { createAsyncApi, InvalidOptionError, MemoryStore, memoryBackend } from 'express-async-api';
import { describe, expect, it } from 'vitest';

describe('createAsyncApi options', () => {
  it('accepts no options, and every option at a valid value', async () => {
    await createAsyncApi().close();
    await createAsyncApi({
      ttl: Infinity,
      statusPath: '/api/jobs',
      retryAfter: 0,
      maxTasks: 10,
      concurrency: 4,
      owner: () => undefined,
      exposeErrors: true,
      onError: () => {},
    }).close();
  });

  const cases: [string, unknown, string][] = [
    ['options', 'fast', 'options must be an object, got "fast"'],
    ['options', [], 'options must be an object, got an array'],
    ['an unknown option', { tll: 5 }, 'options.tll is not an option; the options are ttl, statusPath, retryAfter, maxTasks, concurrency, owner, exposeErrors, onError, threads, maxWait, heartbeat, backend'],
    ['ttl', { ttl: -1 }, 'options.ttl must be a positive number of milliseconds or Infinity, got -1'],
    ['ttl', { ttl: 0 }, 'options.ttl must be a positive number of milliseconds or Infinity, got 0'],
    ['ttl', { ttl: '5m' }, 'options.ttl must be a positive number of milliseconds or Infinity, got "5m"'],
    ['ttl', { ttl: Number.NaN }, 'options.ttl must be a positive number of milliseconds or Infinity, got NaN'],
    ['statusPath', { statusPath: 'status' }, 'options.statusPath must be a path such as "/status": a leading slash, no trailing slash, no query, got "status"'],
    ['statusPath', { statusPath: '/status/' }, 'options.statusPath must be a path such as "/status": a leading slash, no trailing slash, no query, got "/status/"'],
    ['statusPath', { statusPath: '/status?x' }, 'options.statusPath must be a path such as "/status": a leading slash, no trailing slash, no query, got "/status?x"'],
    ['statusPath', { statusPath: '/' }, 'options.statusPath must be a path such as "/status": a leading slash, no trailing slash, no query, got "/"'],
    ['retryAfter', { retryAfter: 1.5 }, 'options.retryAfter must be a whole number of seconds (0 or more), got 1.5'],
    ['retryAfter', { retryAfter: -1 }, 'options.retryAfter must be a whole number of seconds (0 or more), got -1'],
    ['maxTasks', { maxTasks: 0 }, 'options.maxTasks must be a positive integer or Infinity, got 0'],
    ['maxTasks', { maxTasks: 2.5 }, 'options.maxTasks must be a positive integer or Infinity, got 2.5'],
    ['concurrency', { concurrency: null }, 'options.concurrency must be a positive integer or Infinity, got null'],
    ['owner', { owner: 'user' }, 'options.owner must be a function, got "user"'],
    ['exposeErrors', { exposeErrors: 'yes' }, 'options.exposeErrors must be true or false, got "yes"'],
    ['onError', { onError: {} }, 'options.onError must be a function, got an object'],
  ];

  it.each(cases)('rejects a bad %s: %j', (_what, options, message) => {
    expect(() => createAsyncApi(options as never)).toThrow(InvalidOptionError);
    expect(() => createAsyncApi(options as never)).toThrow(message);
    try {
      createAsyncApi(options as never);
    } catch (error) {
      expect((error as InvalidOptionError).code).toBe('ERR_INVALID_OPTION');
    }
  });

  it('checks the store given to memoryBackend()', () => {
    expect(() => memoryBackend({ store: {} as never })).toThrow(
      'memoryBackend options.store must be a TaskStore (with create, get, start, retry, progress, finish, take, delete, rewind, watch, watchAll, list, counts, activity, rerun, durable, keepStep, wait, sendEvent, close), got an object',
    );
    expect(() => memoryBackend({ store: new MemoryStore() })).not.toThrow();
  });

  it('checks the options of close()', async () => {
    const tasks = createAsyncApi();
    expect(() => tasks.close({ timeout: -3 })).toThrow('closeOptions.timeout must be a positive number of milliseconds up to 2147483647, got -3');
    await tasks.close();
  });
});

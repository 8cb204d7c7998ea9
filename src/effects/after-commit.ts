// afterCommit(transaction, fn): side effects (a log line, an e-mail, a task submitted) that
// run, in order, only once the transaction that caused them has committed, and never if it
// rolled back. A queue per transaction object, in a WeakMap: a transaction that never ends
// leaks nothing once it is dropped.
import { InvalidArgumentError } from '../core/errors.js';
import { EffectQueue } from '../core/effect-queue.js';
import { describe } from '../core/options.js';

/** Options of `afterCommit()`. */
export interface AfterCommitOptions {
  /** Called with an effect's error (the next effects still run). Default: `console.error`. */
  onError?: (error: unknown) => void;
}

interface Pending {
  readonly queue: EffectQueue;
  onError: (error: unknown) => void;
}

const pending = new WeakMap<object, Pending>();
// pg clients whose query() this module watches, so that it sees COMMIT and ROLLBACK.
const watchedClients = new WeakSet<object>();

const defaultOnError = (error: unknown): void => console.error('express-async-api: an effect after commit failed:', error);

/**
 * Queues `effect` to run once `transaction` has committed; discards it if it rolls back.
 * `transaction` is a knex transaction (`trx`), a pg client on which the transaction's
 * `BEGIN`, `COMMIT` and `ROLLBACK` are issued (a `Client`, or a pool's client), or any object
 * whose end you report with `effects.commit(transaction)` / `effects.rollback(transaction)`.
 */
export function afterCommit(transaction: object, effect: () => unknown, options?: AfterCommitOptions): void {
  // (A knex transaction is a function.)
  if ((typeof transaction !== 'object' && typeof transaction !== 'function') || transaction === null) {
    throw new InvalidArgumentError(`afterCommit() takes a transaction object, got ${describe(transaction)}`);
  }
  if (typeof effect !== 'function') throw new InvalidArgumentError(`afterCommit() takes a function, got ${describe(effect)}`);
  let entry = pending.get(transaction);
  if (entry === undefined) {
    entry = { queue: new EffectQueue(), onError: options?.onError ?? defaultOnError };
    pending.set(transaction, entry);
    hook(transaction);
  } else if (options?.onError !== undefined) entry.onError = options.onError;
  entry.queue.add(effect);
}

/** Ends a transaction's queue by hand, for a library without an adapter here. */
export const effects = {
  /** The transaction committed: its effects run, in order. Resolves when they have settled. */
  commit(transaction: object): Promise<void> {
    const entry = pending.get(transaction);
    if (entry === undefined) return Promise.resolve();
    pending.delete(transaction);
    return entry.queue.run(entry.onError);
  },
  /** The transaction rolled back: its effects are dropped. */
  rollback(transaction: object): void {
    pending.get(transaction)?.queue.discard();
    pending.delete(transaction);
  },
};

interface KnexTransaction {
  executionPromise: Promise<unknown>;
  commit(...args: unknown[]): unknown;
  rollback(...args: unknown[]): unknown;
  parentTransaction?: KnexTransaction;
}

// The adapters: how a library tells of the end of a transaction.
function hook(transaction: object): void {
  const knex = transaction as Partial<KnexTransaction>;
  if (typeof knex.executionPromise?.then === 'function' && typeof knex.commit === 'function' && typeof knex.rollback === 'function') {
    watchKnex(knex as KnexTransaction);
    return;
  }
  const client = transaction as { query?: unknown; connect?: unknown; totalCount?: unknown };
  if (typeof client.query === 'function' && typeof client.totalCount === 'number') {
    // A pg Pool: each query may run on another client, so no transaction is its own.
    pending.delete(transaction);
    throw new InvalidArgumentError("afterCommit() takes the pool's client of the transaction (await pool.connect()), not the pool");
  }
  if (typeof client.query === 'function' && !watchedClients.has(transaction)) watchPg(client as PgClient);
}

// knex settles a transaction's executionPromise when it has ended, and resolves it after a
// rollback too (its `doNotRejectOnRollback`): a rollback, explicit or not, goes through
// trx.rollback(), which is watched. A nested transaction (a savepoint) that is released
// hands its effects to its parent; one rolled back drops them.
function watchKnex(trx: KnexTransaction): void {
  let rolledBack = false;
  const rollback = trx.rollback;
  trx.rollback = function watchedRollback(this: unknown, ...args: unknown[]) {
    rolledBack = true;
    return rollback.apply(this, args);
  };
  const ended = (committed: boolean): void => {
    const entry = pending.get(trx);
    if (!committed || entry === undefined) return effects.rollback(trx);
    const parent = trx.parentTransaction;
    if (parent === undefined) return void effects.commit(trx);
    pending.delete(trx);
    for (const effect of entry.queue.take()) afterCommit(parent, effect, { onError: entry.onError });
  };
  trx.executionPromise.then(
    () => ended(!rolledBack),
    () => ended(false),
  );
}

interface PgClient {
  query(...args: unknown[]): unknown;
}

const endOf = (sql: string): 'commit' | 'rollback' | 'begin' | undefined => {
  // The last statement of the text, without its comments: `SELECT 1; COMMIT`, `/* app */ COMMIT`.
  const statements = sql.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/--[^\n]*/g, ' ').split(';').filter((part) => part.trim() !== '');
  const text = statements.at(-1) ?? '';
  const statement = /^\s*(\w+)(?:\s+(\w+))?/.exec(text);
  if (statement === null) return undefined;
  const [, verb, next] = statement as unknown as [string, string, string | undefined];
  switch (verb.toUpperCase()) {
    case 'COMMIT':
    case 'END':
      return next?.toUpperCase() === 'PREPARED' ? undefined : 'commit';
    case 'ROLLBACK':
    case 'ABORT':
      // ROLLBACK TO SAVEPOINT ends a savepoint, not the transaction.
      return next?.toUpperCase() === 'TO' || next?.toUpperCase() === 'PREPARED' ? undefined : 'rollback';
    case 'BEGIN':
    case 'START':
      return 'begin';
    default:
      return undefined;
  }
};

// Wraps the client's query() once: after a COMMIT that succeeded, the effects run; after a
// ROLLBACK, or a COMMIT that failed (the transaction is rolled back then), they are dropped;
// a BEGIN drops what a transaction that never ended left (a pool's client is reused).
function watchPg(client: PgClient): void {
  watchedClients.add(client);
  const query = client.query;
  client.query = function watchedQuery(this: PgClient, ...args: unknown[]): unknown {
    const [first] = args;
    const text = typeof first === 'string' ? first : typeof (first as { text?: unknown } | null)?.text === 'string' ? (first as { text: string }).text : '';
    const end = text === '' ? undefined : endOf(text);
    if (end === undefined) return query.apply(this, args);
    if (end === 'begin') {
      effects.rollback(client);
      return query.apply(this, args);
    }
    // A COMMIT of a transaction that had failed succeeds, as a ROLLBACK (its command tag).
    const settle = (failed: boolean, result?: unknown): void => {
      if (end === 'commit' && !failed && (result as { command?: unknown } | undefined)?.command !== 'ROLLBACK') void effects.commit(client);
      else effects.rollback(client);
    };
    // A query config's own callback, a Submittable (a pg.Query: events, no promise), a callback.
    const config = first as { callback?: unknown; submit?: unknown; once?: unknown } | null;
    if (typeof config === 'object' && config !== null && typeof config.submit === 'function' && typeof config.once === 'function') {
      const submittable = config as { once(event: string, listener: (...all: unknown[]) => void): unknown };
      submittable.once('end', (result: unknown) => settle(false, result));
      submittable.once('error', () => settle(true));
      return query.apply(this, args);
    }
    if (typeof config === 'object' && config !== null && typeof config.callback === 'function') {
      const own = config.callback as (...all: unknown[]) => unknown;
      args[0] = {
        ...config,
        callback(this: unknown, error: unknown, ...rest: unknown[]) {
          settle(error !== null && error !== undefined, rest[0]);
          return own.call(this, error, ...rest);
        },
      };
      return query.apply(this, args);
    }
    const callback = args.length > 1 ? args[args.length - 1] : undefined;
    if (typeof callback === 'function') {
      args[args.length - 1] = function settled(this: unknown, error: unknown, ...rest: unknown[]) {
        settle(error !== null && error !== undefined, rest[0]);
        return (callback as (...all: unknown[]) => unknown).call(this, error, ...rest);
      };
      return query.apply(this, args);
    }
    const result = query.apply(this, args) as { then?: unknown } | undefined;
    if (typeof result?.then === 'function') {
      (result as Promise<unknown>).then(
        (answer) => settle(false, answer),
        () => settle(true),
      );
    }
    return result;
  };
}

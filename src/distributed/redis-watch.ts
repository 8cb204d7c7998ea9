// Tells of a lost Redis connection once, as what it is, and of its return once: ioredis
// retries by itself and reports each failed attempt, on each of a process's connections.

const connectionCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** Whether an error is one of a connection to Redis (refused, reset, closed, timed out), not of a command. */
export function isConnectionError(error: unknown): boolean {
  const { code, name, message } = (error ?? {}) as { code?: unknown; name?: unknown; message?: unknown };
  if (typeof code === 'string' && connectionCodes.has(code)) return true;
  if (name === 'MaxRetriesPerRequestError') return true;
  return typeof message === 'string' && /^(Connection is closed|connect E[A-Z]+|read E[A-Z]+|write E[A-Z]+)/.test(message);
}

/** The outage state of a process's Redis connections, logged on its edges only. */
export class RedisWatch {
  readonly #log: (line: string) => void;
  readonly #who: string;
  #down = false;

  constructor(who: string, log: (line: string) => void) {
    this.#who = who;
    this.#log = log;
  }

  /** A connection failed, or closed and is being retried: the first time since the last recovery, say so. */
  lost(error?: unknown): void {
    if (this.#down) return;
    this.#down = true;
    const reason = error === undefined ? 'the connection closed' : ((error as { message?: unknown } | null)?.message ?? String(error));
    this.#log(`${this.#who}: lost its connection to Redis (${String(reason)}); reconnecting`);
  }

  /** A connection is ready: after a loss, say it is back. */
  ready(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#log(`${this.#who}: reconnected to Redis`);
  }
}

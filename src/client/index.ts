// express-async-api/client: follows a task from its 202 to its final response. For
// browsers and Node.js 20+ (global fetch); no dependencies, nothing of the server.
import type { StatusDocument } from '../core/task.js';

export type { StatusDocument };

/** Options of `waitForTask()`. */
export interface WaitForTaskOptions {
  /** Called with the status document of each answer while the task is live. */
  onProgress?: (status: StatusDocument) => void;
  /** Stops waiting: the promise rejects with the signal's reason. (The task goes on; DELETE its monitor to cancel it.) */
  signal?: AbortSignal;
  /** Resolves a relative `Location` or monitor URL. Default: the response's URL, or the page's in a browser. */
  baseUrl?: string | URL;
  /**
   * Seconds the server is asked to hold each poll (`Prefer: wait`); it answers the moment
   * the task ends. Default: 1 with `onProgress` (a status at least every second), else 30.
   */
  wait?: number;
  /** Headers sent with each poll (`Authorization`, …). */
  headers?: Record<string, string>;
  /** The `fetch` to poll with. Default: the global one. */
  fetch?: typeof fetch;
}

// An absolute URL as it is; a relative one against baseUrl, the response's URL, or the page's.
function resolveUrl(url: string | URL, response: Response | undefined, baseUrl: string | URL | undefined): URL {
  if (URL.canParse(String(url))) return new URL(url);
  const base = baseUrl ?? (response?.url || (globalThis as { location?: { href?: string } }).location?.href);
  if (!base) throw new TypeError('waitForTask() needs a baseUrl to resolve a relative Location');
  return new URL(url, base);
}

// Retry-After in milliseconds: delay-seconds or an HTTP-date; a second when absent.
function retryAfter(response: Response): number {
  const value = response.headers.get('retry-after')?.trim();
  if (value === undefined || value === '') return 1_000;
  if (/^\d+$/.test(value)) return Number(value) * 1_000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? 1_000 : Math.max(0, date - Date.now());
}

async function statusOf(response: Response): Promise<StatusDocument | undefined> {
  if (!response.headers.get('content-type')?.includes('json')) return undefined;
  try {
    const document = (await response.json()) as StatusDocument;
    return typeof document?.status === 'string' ? document : undefined;
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Waits for an asynchronous task and resolves with its final `Response`: the route's real
 * answer once it succeeded, or the problem document (4xx/5xx) once it failed.
 *
 * `input` is the response of the submit (a response that is not `202` is already final),
 * or the monitor's URL. It follows `Location`, asks the server to hold each poll with
 * `Prefer: wait`, and where the server does not say it did (`Preference-Applied`), waits
 * as long as `Retry-After` says between polls: any server of the asynchronous
 * request-reply pattern will do.
 *
 * ```js
 * const response = await waitForTask(await fetch('/reports', { method: 'POST', body }), {
 *   onProgress: (status) => console.log(status.progress),
 * });
 * ```
 */
export async function waitForTask(input: Response | string | URL, options: WaitForTaskOptions = {}): Promise<Response> {
  const { onProgress, signal, headers } = options;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const wait = options.wait ?? (onProgress ? 1 : 30);
  if (!(Number.isInteger(wait) && wait >= 0)) throw new TypeError(`waitForTask() options.wait must be a whole number of seconds, got ${wait}`);
  let monitor: URL;
  if (input instanceof Response) {
    if (input.status !== 202) return input;
    const location = input.headers.get('location');
    if (location === null) throw new TypeError('The 202 response has no Location header to follow');
    monitor = resolveUrl(location, input, options.baseUrl);
    const status = await statusOf(input);
    if (status !== undefined) onProgress?.(status);
  } else {
    monitor = resolveUrl(input, undefined, options.baseUrl);
  }
  for (;;) {
    signal?.throwIfAborted();
    const response = await fetchImpl(monitor, { headers: { ...headers, Prefer: `wait=${wait}` }, signal });
    if (response.status !== 202) return response;
    const held = /(^|[\s,])wait=/.test(response.headers.get('preference-applied') ?? '');
    const status = await statusOf(response);
    if (status !== undefined) onProgress?.(status);
    // A server that held the poll answered as soon as it could; others ask us to wait.
    if (!held || wait === 0) await sleep(retryAfter(response), signal);
    const next = response.headers.get('location');
    if (next !== null) monitor = new URL(next, monitor);
  }
}

import type { WaitingFor } from './durable.js';
import type { Problem } from './problem.js';

/** Where a task is in its life. `queued` and `running` are live; the others are final. */
export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';

/**
 * A recorded HTTP response, replayed by the monitor once the task succeeded: what Node
 * would have put on the wire for the handler, less what belongs to one transfer (`Date`,
 * `Connection`, `Keep-Alive`), which the replay's own connection supplies.
 */
export interface Reply {
  readonly status: number;
  /** The reason phrase, when the handler gave one of its own. */
  readonly statusMessage?: string;
  /**
   * A flat list of names and values, `[name, value, name, value, …]`, names as the handler
   * wrote them; a header of several values (`Set-Cookie`) is its name repeated, consecutively.
   */
  readonly headers: readonly string[];
  /** The body; a `string` is UTF-8 text. Nothing for 204, 304 and 1xx statuses. */
  readonly body: string | Uint8Array | undefined;
  /**
   * The byte length of each chunk written, when the head was sent before the end
   * (`writeHead`, `write`, `flushHeaders`): the replay writes them so, and Node frames them
   * as it framed the original (chunked, unless a length was set).
   */
  readonly chunks?: readonly number[];
  /**
   * Lower-case names of headers the handler removed and did not set again: the replay
   * removes them too (from what middleware set on the monitor's response, and, for
   * `content-length`, `transfer-encoding` and `date`, from what Node would add).
   */
  readonly removed?: readonly string[];
  /** Trailers (`res.addTrailers`), `[name, value, …]`. */
  readonly trailers?: readonly string[];
  /**
   * Node sent the head, which has characters beyond ASCII, as UTF-8 (it went out early,
   * with the first text written); the replay sends it so too.
   */
  readonly utf8Head?: true;
}

/** The first value of a reply's header (`name` in lower case), or `undefined`. */
export function replyHeader(reply: Reply, name: string): string | undefined {
  for (let i = 0; i < reply.headers.length; i += 2) if (reply.headers[i]!.toLowerCase() === name) return reply.headers[i + 1];
  return undefined;
}

/**
 * A task as a store holds it. Stores return these; only stores change them. A store may
 * compute fields with getters (`MemoryStore` does, to keep tasks small): read them by name.
 */
export interface Task {
  readonly id: string;
  /** The owner the task was submitted by (see the `owner` option), if any. */
  readonly owner: string | undefined;
  readonly status: TaskStatus;
  /** A fraction from 0 to 1, once the handler reported one. */
  readonly progress: number | undefined;
  readonly message: string | undefined;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly startedAt: number | undefined;
  readonly finishedAt: number | undefined;
  /** The handler's response, when the task succeeded. */
  readonly reply: Reply | undefined;
  /** Why the task failed, when it failed. Canceled tasks need none. */
  readonly problem: Problem | undefined;
  /** Its answer is read once (the route's `readOnce`); absent otherwise. */
  readonly readOnce?: boolean;
  /** With retries: the attempt it is on (from 1), of how many at most. */
  readonly attempt?: number;
  readonly attempts?: number;
  /** Between attempts: when the next one starts (ms since the epoch). */
  readonly retryAt?: number;
  /**
   * What the task was submitted as: the route as Express matched it, by its patterns
   * (`POST /users/:uid/reports/:kind`), its `name` option, or the name of a task defined in
   * code. Bounded: never a path parameter's value.
   */
  readonly route?: string;
  /** The submit request's method and URL (path and query), for a task submitted over HTTP. */
  readonly method?: string;
  readonly url?: string;
  /**
   * Its job is kept, so that it can be run again (`TaskStore.rerun()`): a module task's, until it
   * succeeds. Absent for inline tasks.
   */
  readonly rerunnable?: true;
  /** A running task waiting for an outside event (`req.task.waitForEvent()`): which, and until when. */
  readonly waitingFor?: WaitingFor;
  /** How often it was rewound (`tasks.rewind()`): run again under its id. Absent until then. */
  readonly rewinds?: number;
  /** A rewound task's earlier runs, oldest first, each as it ended. */
  readonly runs?: readonly RunRecord[];
}

/** A run of a task that ended, and was rewound: how it ended. */
export interface RunRecord {
  readonly status: 'failed' | 'canceled';
  readonly startedAt: number | undefined;
  readonly finishedAt: number | undefined;
  readonly problem: Problem | undefined;
}

/**
 * What it takes to run a module task again, with no request: its job (the request snapshot,
 * or a task's input) and the route's configuration. Plain data, except that in memory a
 * route's `retryOn` function is kept too.
 */
export interface Rerun {
  readonly job: import('./backend.js').ModuleJob;
  readonly route: import('./options.js').WorkerRouteConfiguration;
}

/** How a live task ends. */
export type Outcome =
  | { readonly status: 'succeeded'; readonly reply: Reply }
  | { readonly status: 'failed'; readonly problem: Problem }
  | { readonly status: 'canceled' };

/** The JSON body of a status answer (202 while the task is live, and of the submit). */
export interface StatusDocument {
  id: string;
  status: TaskStatus;
  progress?: number;
  message?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** With retries: the attempt it is on, of how many at most, and when the next starts. */
  attempt?: number;
  attempts?: number;
  retryAt?: string;
  /**
   * While it waits for an outside event: its name, when the wait times out (`null`: not before
   * the task expires), and where to send it (the monitor's `/events/<name>`, set by the monitor).
   */
  waitingFor?: { event: string; until: string | null; href?: string };
  /** How often it was rewound: run again under its id after it failed or was canceled. */
  rewinds?: number;
}

/** True for the statuses a task never leaves. */
export function isFinished(status: TaskStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'canceled';
}

/**
 * The transitions a task may make:
 * queued → running → succeeded | failed | canceled, and queued → failed | canceled
 * (canceled while waiting, or refused when it was about to start). `ran`: the task ran,
 * and its end says when it started: a queued task may then succeed too.
 */
export function canTransition(from: TaskStatus, to: TaskStatus, ran = false): boolean {
  switch (from) {
    case 'queued':
      return to !== 'queued' && (ran || to !== 'succeeded');
    case 'running':
      return isFinished(to);
    default:
      return false;
  }
}

/**
 * The status document of a task; with `monitor` (its monitor's URL), a waiting task's
 * `waitingFor.href` is where its event is sent (`<monitor>/events/<name>`).
 */
export function toStatusDocument(task: Task, monitor?: string): StatusDocument {
  // Keys in the documented order; optional ones only when set.
  const document: StatusDocument = { id: task.id, status: task.status } as StatusDocument;
  if (task.progress !== undefined) document.progress = task.progress;
  if (task.message !== undefined) document.message = task.message;
  document.createdAt = new Date(task.createdAt).toISOString();
  if (task.startedAt !== undefined) document.startedAt = new Date(task.startedAt).toISOString();
  if (task.finishedAt !== undefined) document.finishedAt = new Date(task.finishedAt).toISOString();
  if (task.attempts !== undefined) {
    document.attempt = task.attempt ?? 1;
    document.attempts = task.attempts;
    if (task.retryAt !== undefined) document.retryAt = new Date(task.retryAt).toISOString();
  }
  if (task.rewinds !== undefined) document.rewinds = task.rewinds;
  const { waitingFor } = task;
  if (waitingFor !== undefined && task.status === 'running') {
    document.waitingFor = { event: waitingFor.event, until: waitingFor.until === undefined ? null : new Date(waitingFor.until).toISOString() };
    if (monitor !== undefined) document.waitingFor.href = `${monitor}/events/${waitingFor.event}`;
  }
  return document;
}

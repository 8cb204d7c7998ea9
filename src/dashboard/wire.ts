// The shapes of the dashboard's JSON API: what documents.ts writes and the page reads. Types
// only, with no import: the page's own typecheck (DOM, no Node) reads this file too.

export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';

/** A task's problem as the dashboard shows it: its `detail` too. */
export interface ProblemSummary {
  type: string;
  title: string;
  status: number;
  detail?: string;
}

/** A task in a list: what it is, where it came from, where it is. Times are ISO strings. */
export interface TaskSummary {
  id: string;
  status: TaskStatus;
  route?: string;
  method?: string;
  url?: string;
  owner?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  progress?: number;
  message?: string;
  attempt?: number;
  attempts?: number;
  retryAt?: string;
  reply?: { status: number; contentType?: string; size: number };
  problem?: ProblemSummary;
  /** Its job was kept: `POST …/retry` can run it again. */
  retryable: boolean;
  /** It failed, timed out or was canceled, and its job was kept: `POST …/rewind` runs it again under its id. */
  rewindable: boolean;
  /** How often it was rewound, once it was. */
  rewinds?: number;
  /** While it runs and waits for an outside event (`waitForEvent`): which, and until when (`null`: no timeout). */
  waitingFor?: { event: string; until: string | null };
}

/** A run of a rewound task that ended before its rewind. */
export interface RunSummary {
  status: 'failed' | 'canceled';
  startedAt?: string;
  finishedAt?: string;
  problem?: ProblemSummary;
}

export interface ReplyPreview {
  encoding: 'text' | 'hex';
  text: string;
  truncated: boolean;
}

/** A task in the detail panel: its reply's head and the start of its body, its whole problem. */
export interface TaskDetail extends Omit<TaskSummary, 'reply'> {
  readOnce?: boolean;
  /** A rewound task's earlier runs, oldest first, each as it ended. */
  runs?: RunSummary[];
  reply?: {
    status: number;
    statusMessage?: string;
    headers: [string, string][];
    contentType?: string;
    size: number;
    preview: ReplyPreview;
  };
}

/** `GET api/tasks`. */
export interface TaskPage {
  tasks: TaskSummary[];
  next: string | null;
}

export type Counts = Record<TaskStatus, number>;

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

export interface RouteWindow {
  submitted: number;
  succeeded: number;
  failed: number;
  canceled: number;
  /** Run times and queue waits, in ms. */
  run: Percentiles | null;
  queue: Percentiles | null;
}

export interface RoutePoint {
  /** The minute's start. */
  at: string;
  submitted: number;
  succeeded: number;
  failed: number;
  canceled: number;
  runP95: number | null;
}

export interface RouteStats {
  route: string;
  windows: Record<'1m' | '5m' | '15m', RouteWindow>;
  series: RoutePoint[];
}

/** `GET api/stats`. */
export interface Stats {
  counts: Counts;
  routes: RouteStats[];
  threads?: { threads: number; utilization: number; queued: number };
  workers?: { name?: string; addr?: string; age?: number; idle?: number }[];
}

/** The data of an `api/events` event `tasks`. */
export interface TasksEvent {
  tasks: TaskSummary[];
  removed: string[];
  /** Changes left out of the batch (at most 200 tasks, the newest), if any. */
  skipped?: number;
}

/**
 * The answer of a bulk action (`POST api/tasks/cancel?…`, `POST api/tasks/rewind?…`,
 * `DELETE api/tasks?…`): the tasks the filter matched, those the action was done to, and those it
 * skipped (not live, for a cancel; not rewindable, for a rewind; not finished, for a delete; or
 * changed meanwhile).
 */
export interface BulkResult {
  matched: number;
  done: number;
  skipped: number;
}

/** `GET api/tasks/count?<the list's filters>`. */
export interface CountResult {
  count: number;
}

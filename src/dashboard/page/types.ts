// The shapes of the dashboard's JSON API, as the page reads them.

export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';

export const statuses: readonly TaskStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

/** A status that will not change again. */
export const isFinished = (status: TaskStatus): boolean => status === 'succeeded' || status === 'failed' || status === 'canceled';

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  [member: string]: unknown;
}

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
  problem?: Problem;
  retryable: boolean;
}

export interface ReplyPreview {
  encoding: 'text' | 'hex';
  text: string;
  truncated: boolean;
}

export interface TaskDetail extends Omit<TaskSummary, 'reply'> {
  reply?: {
    status: number;
    statusMessage?: string;
    headers: [string, string][];
    contentType?: string;
    size: number;
    preview?: ReplyPreview;
  };
}

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
  run: Percentiles | null;
  queue: Percentiles | null;
}

export interface RoutePoint {
  at: string;
  submitted: number;
  succeeded: number;
  failed: number;
  canceled: number;
  runP95: number | null;
}

export interface RouteStats {
  route: string;
  windows: Partial<Record<'1m' | '5m' | '15m', RouteWindow>>;
  series: RoutePoint[];
}

export interface Stats {
  counts: Counts;
  routes: RouteStats[];
  threads?: { threads: number; utilization: number; queued: number };
  workers?: { name?: string; addr?: string }[];
}

/** What the filters ask the list and the event stream for. */
export interface Filter {
  statuses: TaskStatus[];
  route: string;
  /** The search box, trimmed. */
  search: string;
}

export interface TasksEvent {
  tasks: TaskSummary[];
  removed: string[];
}

// The shapes of the dashboard's JSON API (../wire.ts, which the server writes by), and what
// only the page has.
import type { TaskStatus } from '../wire.js';

export type * from '../wire.js';

export const statuses: readonly TaskStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

/** A status that will not change again. */
export const isFinished = (status: TaskStatus): boolean => status === 'succeeded' || status === 'failed' || status === 'canceled';

/** What an API error says: a problem document, or what could be made of a failed answer. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  [member: string]: unknown;
}

export interface Filter {
  statuses: TaskStatus[];
  route: string;
  /** The search box, trimmed. */
  search: string;
}

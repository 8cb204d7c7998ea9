// The dashboard's JSON API, by URLs relative to the page (served at `<mount>/`), so the
// page works wherever the router is mounted.
import type { Filter, Problem, Stats, TaskDetail, TaskPage, TaskSummary } from './types.js';

/** An answer that is not a success, with its problem document when it had one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
  ) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
  }
}

/** Search text that reads as an id or a prefix of one searches by id, anything else by words. */
export const idLike = /^[0-9a-f-]{1,36}$/i;

/** True when the search box holds something the server can search for. */
export const searchable = (search: string): boolean => search === '' || idLike.test(search) || /[A-Za-z0-9\u0080-\uffff]{2}/.test(search);

/** The query of the list and of the event stream for a filter. */
export function filterParams(filter: Filter): URLSearchParams {
  const params = new URLSearchParams();
  for (const status of filter.statuses) params.append('status', status);
  if (filter.route !== '') params.set('route', filter.route);
  if (filter.search !== '' && searchable(filter.search)) {
    if (idLike.test(filter.search)) params.set('id', filter.search.toLowerCase());
    else params.set('text', filter.search);
  }
  return params;
}

async function call<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' }, ...init });
  const type = response.headers.get('content-type') ?? '';
  const body: unknown = /json/.test(type) ? await response.json().catch(() => undefined) : undefined;
  if (!response.ok) throw new ApiError(response.status, typeof body === 'object' && body !== null ? (body as Problem) : undefined);
  return body as T;
}

// Mutations as JSON: the router takes no other type, so that a cross-site form cannot post.
const mutation = (method: string): RequestInit => ({
  method,
  headers: { accept: 'application/json', 'content-type': 'application/json' },
  body: '{}',
});

export function listTasks(filter: Filter, cursor: string | null, limit = 50): Promise<TaskPage> {
  const params = filterParams(filter);
  params.set('limit', String(limit));
  if (cursor !== null) params.set('cursor', cursor);
  return call<TaskPage>(`api/tasks?${params}`);
}

export const getTask = (id: string): Promise<TaskDetail> => call<TaskDetail>(`api/tasks/${encodeURIComponent(id)}`);

export const deleteTask = (id: string): Promise<{ task: TaskSummary; action: 'canceled' | 'deleted' }> =>
  call(`api/tasks/${encodeURIComponent(id)}`, mutation('DELETE'));

export const retryTask = (id: string): Promise<{ task: TaskSummary }> => call(`api/tasks/${encodeURIComponent(id)}/retry`, mutation('POST'));

export const getStats = (): Promise<Stats> => call<Stats>('api/stats');

export const eventsUrl = (filter: Filter): string => {
  const params = filterParams(filter).toString();
  return params === '' ? 'api/events' : `api/events?${params}`;
};

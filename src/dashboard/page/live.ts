// How the list of tasks changes: pages appended, and the changes of GET api/events merged in.
import type { TaskSummary, TasksEvent } from './types.js';

/** Newest first: by creation time, then by id (higher first), as the server orders them. */
export function compare(a: TaskSummary, b: TaskSummary): number {
  const at = Date.parse(b.createdAt) - Date.parse(a.createdAt);
  if (at !== 0) return at;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** A page appended, without the tasks that the live stream has already put in the list. */
export function append(list: TaskSummary[], page: TaskSummary[]): TaskSummary[] {
  const known = new Set(list.map((task) => task.id));
  return [...list, ...page.filter((task) => !known.has(task.id))];
}

/**
 * The changes of one `tasks` event: changed tasks replace theirs in place; new ones go
 * where they belong in the order (a new task at the top), unless a later page, not loaded
 * yet, is where they belong; removed ones go.
 */
export function merge(list: TaskSummary[], event: TasksEvent, more: boolean): TaskSummary[] {
  const removed = new Set(event.removed);
  let result = removed.size === 0 ? list : list.filter((task) => !removed.has(task.id));
  const changed = new Map(event.tasks.filter((task) => !removed.has(task.id)).map((task) => [task.id, task]));
  if (changed.size === 0) return result;
  result = result.map((task) => {
    const update = changed.get(task.id);
    if (update === undefined) return task;
    changed.delete(task.id);
    return update;
  });
  const last = result[result.length - 1];
  for (const task of changed.values()) {
    if (more && last !== undefined && compare(task, last) > 0) continue;
    let at = result.findIndex((other) => compare(task, other) < 0);
    if (at === -1) at = result.length;
    result = [...result.slice(0, at), task, ...result.slice(at)];
  }
  return result;
}

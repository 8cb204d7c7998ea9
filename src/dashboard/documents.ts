// The JSON of the dashboard's API: a task as the list shows it, and as its detail panel does.
import type { Stats } from '../core/admin.js';
import type { Problem } from '../core/problem.js';
import { replyHeader, type Reply, type Task } from '../core/task.js';
import type { ProblemSummary, RunSummary, Stats as StatsDocument, TaskDetail, TaskSummary } from './wire.js';

/** How much of a reply's body the detail shows. */
export const PREVIEW_BYTES = 4_096;

const iso = (at: number | undefined): string | undefined => (at === undefined ? undefined : new Date(at).toISOString());

function bytesOf(body: Reply['body']): Uint8Array {
  if (body === undefined) return new Uint8Array(0);
  return typeof body === 'string' ? Buffer.from(body) : body;
}

function sizeOf(body: Reply['body']): number {
  if (body === undefined) return 0;
  return typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
}

// The problem as an operator reads it: its detail too, which the monitor may hide from clients.
function problemSummary(problem: Problem): ProblemSummary {
  const summary: ProblemSummary = { type: problem.type, title: problem.title, status: problem.status };
  if (problem.detail !== undefined) summary.detail = problem.detail;
  return summary;
}

export function taskSummary(task: Task): TaskSummary {
  const summary = { id: task.id, status: task.status } as TaskSummary;
  const set = <K extends keyof TaskSummary>(key: K, value: TaskSummary[K] | undefined): void => {
    if (value !== undefined) summary[key] = value;
  };
  set('route', task.route);
  set('method', task.method);
  set('url', task.url);
  set('owner', task.owner);
  summary.createdAt = iso(task.createdAt)!;
  set('startedAt', iso(task.startedAt));
  set('finishedAt', iso(task.finishedAt));
  set('progress', task.progress);
  set('message', task.message);
  if (task.attempts !== undefined) {
    summary.attempt = task.attempt ?? 1;
    summary.attempts = task.attempts;
    set('retryAt', iso(task.retryAt));
  }
  const { reply, problem } = task;
  if (reply !== undefined) {
    summary.reply = { status: reply.status, size: sizeOf(reply.body) };
    const contentType = replyHeader(reply, 'content-type');
    if (contentType !== undefined) summary.reply.contentType = contentType;
  }
  if (problem !== undefined) summary.problem = problemSummary(problem);
  summary.retryable = task.rerunnable === true;
  summary.rewindable = task.rerunnable === true && (task.status === 'failed' || task.status === 'canceled');
  set('rewinds', task.rewinds);
  const { waitingFor } = task;
  if (waitingFor !== undefined && task.status === 'running') summary.waitingFor = { event: waitingFor.event, until: waitingFor.until === undefined ? null : iso(waitingFor.until)! };
  return summary;
}

// A body is shown as text when its type says text and its bytes are UTF-8.
const textual = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded|yaml|csv)\b)/i;

export function taskDetail(task: Task): TaskDetail {
  const { reply: _reply, ...summary } = taskSummary(task);
  const detail: TaskDetail = summary;
  if (task.readOnce === true) detail.readOnce = true;
  if (task.runs !== undefined) {
    detail.runs = task.runs.map((run) => {
      const summary: RunSummary = { status: run.status };
      if (run.startedAt !== undefined) summary.startedAt = iso(run.startedAt)!;
      if (run.finishedAt !== undefined) summary.finishedAt = iso(run.finishedAt)!;
      if (run.problem !== undefined) summary.problem = problemSummary(run.problem);
      return summary;
    });
  }
  const { reply } = task;
  if (reply !== undefined) {
    const headers: [string, string][] = [];
    for (let i = 0; i < reply.headers.length; i += 2) headers.push([reply.headers[i]!, reply.headers[i + 1]!]);
    const bytes = bytesOf(reply.body);
    const head = bytes.subarray(0, PREVIEW_BYTES);
    const contentType = replyHeader(reply, 'content-type');
    let preview: { encoding: 'text' | 'hex'; text: string } | undefined;
    if (typeof reply.body === 'string' || (contentType !== undefined && textual.test(contentType))) {
      try {
        // (A cut through a character at the end of the preview is not a reason for hex.)
        preview = { encoding: 'text', text: new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true }) };
      } catch {
        preview = undefined;
      }
    }
    preview ??= { encoding: 'hex', text: hexDump(head) };
    detail.reply = {
      status: reply.status,
      ...(reply.statusMessage === undefined ? {} : { statusMessage: reply.statusMessage }),
      headers,
      ...(contentType === undefined ? {} : { contentType }),
      size: bytes.byteLength,
      preview: { ...preview, truncated: bytes.byteLength > PREVIEW_BYTES },
    };
  }
  return detail;
}

/** Bytes as lines of 16: the offset, the bytes in hex, and the printable ones as ASCII. */
export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.subarray(offset, offset + 16);
    const hex = Array.from(row, (byte) => byte.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(row, (byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}

/** The stats with times as ISO strings. */
export function statsDocument(stats: Stats): StatsDocument {
  return {
    ...stats,
    routes: stats.routes.map((route) => ({ ...route, series: route.series.map((point) => ({ ...point, at: new Date(point.at).toISOString() })) })),
  };
}

// How values read on the page.

export const shortId = (id: string): string => id.slice(0, 8);

/** "12s ago", "5m ago", "3h ago", "2d ago"; "in 4s" for a time to come. */
export function relative(iso: string | undefined, now: number): string {
  if (iso === undefined) return '';
  const at = Date.parse(iso);
  if (!Number.isFinite(at)) return '';
  const seconds = Math.round((now - at) / 1000);
  const ahead = seconds < 0;
  const s = Math.abs(seconds);
  const text = s < 5 && !ahead ? 'just now' : s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86_400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86_400)}d`;
  if (text === 'just now') return text;
  return ahead ? `in ${text}` : `${text} ago`;
}

/** A local date and time, to the second, for titles and the detail panel. */
export function absolute(iso: string | undefined): string {
  if (iso === undefined) return '';
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : at.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** Milliseconds as "840 ms", "2.4 s", "3m 10s". */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m ${Math.round((ms % 60_000) / 1000)}s`;
}

/** The time between two ISO times, or from one until now. */
export function between(start: string | undefined, end: string | undefined, now: number): number | undefined {
  if (start === undefined) return undefined;
  const from = Date.parse(start);
  const to = end === undefined ? now : Date.parse(end);
  return Number.isFinite(from) && Number.isFinite(to) ? Math.max(0, to - from) : undefined;
}

export function bytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

export const percent = (value: number): number => Math.round(Math.min(1, Math.max(0, value)) * 100);

// The dashboard: counts, charts per route, the list of tasks with its filters and search,
// and a task's details with its actions. Every value of a task is rendered as text by
// preact (never as HTML), so a message like `<img onerror=…>` stays a message.
import { html } from 'htm/preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, deleteTask, eventsUrl, getStats, getTask, idLike, listTasks, retryTask, searchable } from './api.js';
import { RouteChart } from './chart.js';
import { absolute, between, bytes, duration, percent, relative, shortId } from './format.js';
import { append, merge } from './live.js';
import { isFinished, statuses, type Counts, type Filter, type Stats, type TaskDetail, type TaskStatus, type TaskSummary, type TasksEvent } from './types.js';

const PAGE = 50;
/** Pages followed at most for one "Load more" while they come back short (the server bounds its work per page). */
const HOPS = 10;
const STATS_EVERY = 5_000;
const SEARCH_DELAY = 250;

export interface Config {
  title: string;
  readOnly: boolean;
}

const message = (error: unknown): string => {
  if (error instanceof ApiError) {
    const { problem } = error;
    if (problem?.title !== undefined && problem.detail !== undefined) return `${problem.title}: ${problem.detail}`;
    return problem?.title ?? problem?.detail ?? `The server answered ${error.status}`;
  }
  return error instanceof Error ? error.message : String(error);
};

function useNow(every: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), every);
    return () => clearInterval(timer);
  }, [every]);
  return now;
}

function useTheme(): string {
  const query = useMemo(() => matchMedia('(prefers-color-scheme: dark)'), []);
  const [dark, setDark] = useState(query.matches);
  useEffect(() => {
    const change = () => setDark(query.matches);
    query.addEventListener('change', change);
    return () => query.removeEventListener('change', change);
  }, [query]);
  return dark ? 'dark' : 'light';
}

function Badge({ status }: { status: TaskStatus }) {
  return html`<span class=${`badge badge-${status}`} data-testid="status">${status}</span>`;
}

function Progress({ value, label }: { value: number; label?: string }) {
  const pct = percent(value);
  return html`<div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=${pct} aria-label=${label ?? 'Progress'}>
    <span class="progress-fill" style=${{ width: `${pct}%` }}></span>
  </div>`;
}

function Time({ iso, now }: { iso: string | undefined; now: number }) {
  if (iso === undefined) return html`<span class="muted">–</span>`;
  return html`<time datetime=${iso} title=${absolute(iso)}>${relative(iso, now)}</time>`;
}

function Header({ config, counts, stats, filter, onStatus }: { config: Config; counts: Counts | null; stats: Stats | null; filter: Filter; onStatus: (status: TaskStatus) => void }) {
  const threads = stats?.threads;
  const workers = stats?.workers;
  return html`<header class="top">
    <div class="brand">
      <h1>${config.title}</h1>
      <p class="muted small">
        ${threads === undefined ? null : html`<span>${threads.threads} threads · ${percent(threads.utilization)}% busy · ${threads.queued} waiting</span>`}
        ${workers === undefined ? null : html`<span title=${workers.map((worker) => worker.name ?? worker.addr ?? '').join('\n')}>${workers.length} worker${workers.length === 1 ? '' : 's'}</span>`}
        ${config.readOnly ? html`<span class="pill">read-only</span>` : null}
      </p>
    </div>
    <div class="counts" aria-live="polite" aria-label="Tasks by status" data-testid="counts">
      ${statuses.map(
        (status) => html`<button type="button" class=${`count count-${status}`} aria-pressed=${filter.statuses.includes(status)} onClick=${() => onStatus(status)} data-testid=${`count-${status}`} title=${`Show ${status} tasks`}>
          <span class="count-n">${counts === null ? '–' : counts[status].toLocaleString()}</span>
          <span class="count-label">${status}</span>
        </button>`,
      )}
    </div>
  </header>`;
}

function Charts({ stats, theme }: { stats: Stats | null; theme: string }) {
  if (stats === null || stats.routes.length === 0) return null;
  return html`<section class="charts" aria-label="Routes, last 15 minutes">
    ${stats.routes.map((route) => {
      const window = route.windows['15m'] ?? route.windows['5m'] ?? route.windows['1m'];
      const finished = window === undefined ? 0 : window.succeeded + window.failed + window.canceled;
      return html`<article class="card chart-card" key=${route.route} data-testid="route-chart">
        <header class="chart-head">
          <h2 class="route" title=${route.route}>${route.route}</h2>
          <span class="legend"><i class="swatch swatch-bars"></i>finished/min <i class="swatch swatch-failed"></i>failed <i class="swatch swatch-line"></i>p95 run</span>
        </header>
        <${RouteChart} series=${route.series} theme=${theme} />
        ${window === undefined
          ? null
          : html`<dl class="figures">
              <div><dt>15 min</dt><dd>${window.submitted.toLocaleString()} in · ${finished.toLocaleString()} out</dd></div>
              <div><dt>failed</dt><dd class=${window.failed > 0 ? 'bad' : ''}>${window.failed.toLocaleString()}</dd></div>
              <div><dt>run p50/p95</dt><dd>${window.run === null ? '–' : `${duration(window.run.p50)} / ${duration(window.run.p95)}`}</dd></div>
              <div><dt>queue p95</dt><dd>${window.queue === null ? '–' : duration(window.queue.p95)}</dd></div>
            </dl>`}
      </article>`;
    })}
  </section>`;
}

function Toolbar({
  filter,
  routes,
  search,
  onStatus,
  onRoute,
  onSearch,
  onSubmit,
}: {
  filter: Filter;
  routes: string[];
  search: string;
  onStatus: (status: TaskStatus) => void;
  onRoute: (route: string) => void;
  onSearch: (text: string) => void;
  onSubmit: () => void;
}) {
  const trimmed = search.trim();
  const hint = trimmed === '' ? null : !searchable(trimmed) ? 'Type two letters or digits at least' : idLike.test(trimmed) ? 'Searching ids starting with this' : 'Searching words of the URL and message';
  const options = filter.route !== '' && !routes.includes(filter.route) ? [filter.route, ...routes] : routes;
  return html`<div class="toolbar">
    <form
      class="search"
      role="search"
      onSubmit=${(event: Event) => {
        event.preventDefault();
        onSubmit();
      }}
    >
      <label for="search" class="visually-hidden">Search tasks by id or text</label>
      <input
        id="search"
        type="search"
        data-testid="search"
        placeholder="Search by id prefix or words…"
        autocomplete="off"
        spellcheck=${false}
        value=${search}
        onInput=${(event: Event) => onSearch((event.currentTarget as HTMLInputElement).value)}
        aria-describedby="search-hint"
      />
      <span id="search-hint" class="hint small muted">${hint}</span>
    </form>
    <div class="chips" role="group" aria-label="Filter by status">
      ${statuses.map(
        (status) => html`<button type="button" class=${`chip chip-${status}`} aria-pressed=${filter.statuses.includes(status)} data-testid=${`filter-${status}`} onClick=${() => onStatus(status)}>
          <i class="dot"></i>${status}
        </button>`,
      )}
    </div>
    <div class="route-filter">
      <label for="route">Route</label>
      <select id="route" data-testid="route" value=${filter.route} onChange=${(event: Event) => onRoute((event.currentTarget as HTMLSelectElement).value)}>
        <option value="">All routes</option>
        ${options.map((route) => html`<option value=${route}>${route}</option>`)}
      </select>
    </div>
  </div>`;
}

function TaskRow({ task, now, selected, onSelect }: { task: TaskSummary; now: number; selected: boolean; onSelect: (id: string) => void }) {
  const attempt = task.attempt === undefined ? '' : task.attempts === undefined ? String(task.attempt) : `${task.attempt}/${task.attempts}`;
  const took = task.finishedAt !== undefined ? between(task.startedAt ?? task.createdAt, task.finishedAt, now) : undefined;
  return html`<tr data-testid="task-row" data-task-id=${task.id} class=${selected ? 'selected' : ''} aria-current=${selected ? 'true' : undefined} onClick=${() => onSelect(task.id)}>
    <td data-label="Task">
      <button type="button" class="link mono" title=${task.id} aria-label=${`Details of task ${task.id}`} onClick=${(event: Event) => {
        event.stopPropagation();
        onSelect(task.id);
      }}>${shortId(task.id)}</button>
    </td>
    <td data-label="Route" class="route-cell"><span class="ellipsis" title=${task.route}>${task.route ?? '–'}</span></td>
    <td data-label="Request" class="request-cell">
      ${task.method === undefined && task.url === undefined
        ? html`<span class="muted">–</span>`
        : html`<span class="ellipsis mono" title=${`${task.method ?? ''} ${task.url ?? ''}`}><b class="method">${task.method}</b> ${task.url}</span>`}
    </td>
    <td data-label="Status" class="status-cell">
      <div class="status-line">
        <${Badge} status=${task.status} />
        ${task.status === 'running' && task.progress !== undefined ? html`<${Progress} value=${task.progress} label=${`Progress of ${shortId(task.id)}`} /><span class="small muted pct">${percent(task.progress)}%</span>` : null}
      </div>
      ${task.message !== undefined ? html`<div class="small muted ellipsis message" title=${task.message} data-testid="message">${task.message}</div>` : null}
      ${task.status === 'failed' && task.problem?.title !== undefined ? html`<div class="small bad ellipsis" title=${task.problem.detail ?? task.problem.title}>${task.problem.title}</div>` : null}
    </td>
    <td data-label="Created"><${Time} iso=${task.createdAt} now=${now} /></td>
    <td data-label="Started"><${Time} iso=${task.startedAt} now=${now} /></td>
    <td data-label="Finished">
      <${Time} iso=${task.finishedAt} now=${now} />
      ${took === undefined ? null : html`<div class="small muted">${duration(took)}</div>`}
    </td>
    <td data-label="Attempt" class="num">${attempt === '' ? html`<span class="muted">–</span>` : attempt}</td>
  </tr>`;
}

function Field({ name, children }: { name: string; children: unknown }) {
  if (children === undefined || children === null || children === '') return null;
  return html`<div class="field"><dt>${name}</dt><dd>${children}</dd></div>`;
}

function Detail({
  task,
  error,
  config,
  now,
  busy,
  onClose,
  onCancel,
  onRetry,
  onDelete,
}: {
  task: TaskDetail | null;
  error: string | null;
  config: Config;
  now: number;
  busy: boolean;
  onClose: () => void;
  onCancel: (id: string) => void;
  onRetry: (id: string) => void;
  onDelete: (id: string) => void;
}) {
  const close = useRef<HTMLButtonElement>(null);
  // Focus into the panel, and back to where it was when the panel closes.
  useEffect(() => {
    const before = document.activeElement;
    close.current?.focus();
    return () => {
      if (before instanceof HTMLElement && before !== document.body && before.isConnected) before.focus();
    };
  }, []);
  const reply = task?.reply;
  const attempt = task?.attempt === undefined ? undefined : task.attempts === undefined ? String(task.attempt) : `${task.attempt} of ${task.attempts}`;
  return html`<aside class="detail" data-testid="detail" aria-label="Task details" aria-busy=${task === null && error === null}>
    <header class="detail-head">
      <div>
        <h2>Task ${task === null ? null : html`<${Badge} status=${task.status} />`}</h2>
        ${task === null ? null : html`<p class="mono small selectable" data-testid="detail-id">${task.id}</p>`}
      </div>
      <button type="button" class="icon" ref=${close} onClick=${onClose} aria-label="Close details" title="Close (Esc)">×</button>
    </header>
    ${error === null ? null : html`<p class="notice notice-error" role="alert">${error}</p>`}
    ${task === null
      ? error === null
        ? html`<p class="muted">Loading…</p>`
        : null
      : html`
          ${config.readOnly
            ? null
            : html`<div class="actions">
                ${!isFinished(task.status) ? html`<button type="button" class="btn btn-warn" data-testid="cancel" disabled=${busy} onClick=${() => onCancel(task.id)}>Cancel</button>` : null}
                ${task.retryable ? html`<button type="button" class="btn btn-primary" data-testid="retry" disabled=${busy} onClick=${() => onRetry(task.id)}>Retry</button>` : null}
                ${isFinished(task.status) ? html`<button type="button" class="btn btn-danger" data-testid="delete" disabled=${busy} onClick=${() => onDelete(task.id)}>Delete</button>` : null}
              </div>`}
          ${task.status === 'running' && task.progress !== undefined
            ? html`<div class="detail-progress"><${Progress} value=${task.progress} /><span class="small muted">${percent(task.progress)}%</span></div>`
            : null}
          <dl class="fields">
            <${Field} name="Route">${task.route}<//>
            <${Field} name="Request">${task.method === undefined && task.url === undefined ? undefined : html`<span class="mono selectable">${task.method} ${task.url}</span>`}<//>
            <${Field} name="Owner">${task.owner}<//>
            <${Field} name="Message">${task.message}<//>
            <${Field} name="Created">${absolute(task.createdAt)}<span class="muted"> · ${relative(task.createdAt, now)}</span><//>
            <${Field} name="Started">${task.startedAt === undefined ? undefined : absolute(task.startedAt)}<//>
            <${Field} name="Finished">${task.finishedAt === undefined ? undefined : absolute(task.finishedAt)}<//>
            <${Field} name="Queued for">${task.startedAt === undefined ? undefined : duration(between(task.createdAt, task.startedAt, now))}<//>
            <${Field} name="Run time">${task.startedAt === undefined ? undefined : duration(between(task.startedAt, task.finishedAt, now))}<//>
            <${Field} name="Attempt">${attempt}<//>
            <${Field} name="Next attempt">${task.retryAt === undefined ? undefined : `${absolute(task.retryAt)} (${relative(task.retryAt, now)})`}<//>
            <${Field} name="Can run again">${task.retryable ? 'yes' : 'no'}<//>
          </dl>
          ${reply === undefined
            ? null
            : html`<section class="section" data-testid="reply">
                <h3>Reply <span class="mono">${reply.status}${reply.statusMessage === undefined ? '' : ` ${reply.statusMessage}`}</span></h3>
                <p class="small muted">${[reply.contentType, bytes(reply.size)].filter((part) => part !== undefined).join(' · ')}</p>
                ${reply.headers !== undefined && reply.headers.length > 0
                  ? html`<table class="headers" data-testid="reply-headers">
                      <caption class="visually-hidden">Reply headers</caption>
                      <tbody>
                        ${reply.headers.map(([name, value]) => html`<tr><th scope="row" class="mono">${name}</th><td class="mono selectable">${value}</td></tr>`)}
                      </tbody>
                    </table>`
                  : null}
                ${reply.preview === undefined
                  ? null
                  : html`<div class="preview-head small muted">
                        ${reply.preview.encoding === 'hex' ? 'Binary body, as hex' : 'Body'}${reply.preview.truncated ? ' · first 4 KB' : ''}
                      </div>
                      <pre class=${`preview mono${reply.preview.encoding === 'hex' ? ' hex' : ''}`} data-testid="preview" data-encoding=${reply.preview.encoding}>${reply.preview.text}</pre>`}
              </section>`}
          ${task.problem === undefined
            ? null
            : html`<section class="section" data-testid="problem">
                <h3>Problem</h3>
                <p><strong>${task.problem.title}</strong>${task.problem.detail === undefined ? null : html`<br /><span>${task.problem.detail}</span>`}</p>
                <pre class="preview mono">${JSON.stringify(task.problem, null, 2)}</pre>
              </section>`}
        `}
  </aside>`;
}

/** The filter in the page's hash (#status=failed&route=…&q=…), so that a view can be linked to. */
function filterFromHash(): Filter {
  const params = new URLSearchParams(location.hash.slice(1));
  const wanted = params.getAll('status').flatMap((value) => value.split(','));
  const search = (params.get('q') ?? '').trim();
  return { statuses: statuses.filter((status) => wanted.includes(status)), route: params.get('route') ?? '', search: searchable(search) ? search : '' };
}

function hashOf(filter: Filter): string {
  const params = new URLSearchParams();
  for (const status of filter.statuses) params.append('status', status);
  if (filter.route !== '') params.set('route', filter.route);
  if (filter.search !== '') params.set('q', filter.search);
  const hash = params.toString();
  return hash === '' ? '' : `#${hash}`;
}

export function App({ config }: { config: Config }) {
  const [filter, setWholeFilter] = useState<Filter>(filterFromHash);
  // A change that changes nothing keeps the same filter, so that it loads nothing again
  // (Enter just after the search box applied itself, say).
  const setFilter = useCallback(
    (change: (current: Filter) => Filter) =>
      setWholeFilter((current) => {
        const next = change(current);
        return hashOf(next) === hashOf(current) ? current : next;
      }),
    [],
  );
  const [search, setSearch] = useState(filter.search);
  const [tasks, setTasks] = useState<TaskSummary[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [listError, setListError] = useState<string | null>(null);
  const [counts, setCounts] = useState<Counts | null>(null);
  const [stats, setStats] = useState<Stats | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [detail, setDetail] = useState<TaskDetail | null>(null);
  const [detailError, setDetailError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<{ kind: 'info' | 'error'; text: string; open?: string } | null>(null);
  const [live, setLive] = useState(false);
  const now = useNow(1000);
  const theme = useTheme();
  const nextRef = useRef(next);
  nextRef.current = next;
  // Every list request belongs to one filter; answers for an older one are dropped.
  const generation = useRef(0);

  /** Pages from `cursor` until `PAGE` tasks or the end, at most HOPS requests. */
  const fetchPages = useCallback(async (target: Filter, cursor: string | null) => {
    const found: TaskSummary[] = [];
    let at = cursor;
    for (let hop = 0; hop < HOPS; hop++) {
      const page = await listTasks(target, at, PAGE);
      found.push(...page.tasks);
      at = page.next;
      if (at === null || found.length >= PAGE) break;
    }
    return { tasks: found, next: at };
  }, []);

  // The list and its live changes, again for each filter. The stream opens first, and its
  // changes wait until the first page is in, so that none falls between the two.
  useEffect(() => {
    const mine = ++generation.current;
    let buffered: TasksEvent[] | null = [];
    let opened = false;
    const load = () => {
      buffered = [];
      setLoading(true);
      setListError(null);
      fetchPages(filter, null).then(
        (page) => {
          if (generation.current !== mine) return;
          let list = page.tasks;
          for (const event of buffered ?? []) list = merge(list, event, page.next !== null);
          buffered = null;
          setTasks(list);
          setNext(page.next);
          setLoading(false);
        },
        (error: unknown) => {
          if (generation.current !== mine) return;
          buffered = null;
          setTasks([]);
          setNext(null);
          setListError(message(error));
          setLoading(false);
        },
      );
    };
    const source = new EventSource(eventsUrl(filter));
    source.addEventListener('open', () => {
      setLive(true);
      // After a reconnect, changes may have been missed: the list again.
      if (opened) load();
      opened = true;
    });
    source.addEventListener('error', () => setLive(false));
    source.addEventListener('tasks', (event) => {
      const data = JSON.parse((event as MessageEvent<string>).data) as TasksEvent;
      if (buffered !== null) buffered.push(data);
      else setTasks((list) => merge(list, data, nextRef.current !== null));
    });
    source.addEventListener('counts', (event) => setCounts(JSON.parse((event as MessageEvent<string>).data) as Counts));
    load();
    return () => {
      source.close();
      setLive(false);
    };
  }, [filter, fetchPages]);

  useEffect(() => {
    const hash = hashOf(filter);
    if (hash !== location.hash && !(hash === '' && location.hash === '#')) history.replaceState(null, '', hash === '' ? location.pathname + location.search : hash);
  }, [filter]);

  // Stats, the one thing polled: counts, the routes for the filter and their charts.
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const poll = () => {
      if (document.visibilityState === 'hidden') {
        timer = setTimeout(poll, STATS_EVERY);
        return;
      }
      getStats()
        .then(
          (answer) => {
            if (stopped) return;
            setStats(answer);
            setCounts(answer.counts);
          },
          () => undefined,
        )
        .finally(() => {
          if (!stopped) timer = setTimeout(poll, STATS_EVERY);
        });
    };
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  // The search box applies a moment after typing stops (or at once on Enter).
  useEffect(() => {
    const trimmed = search.trim();
    if (trimmed === filter.search || !searchable(trimmed)) return;
    const timer = setTimeout(() => setFilter((current) => ({ ...current, search: trimmed })), SEARCH_DELAY);
    return () => clearTimeout(timer);
  }, [search, filter.search]);

  // The detail of the selected task, and again when the stream says its status changed
  // (a finished task has its reply or problem to show).
  const summary = selected === null ? undefined : tasks.find((task) => task.id === selected);
  const stale = summary !== undefined && detail !== null && detail.id === summary.id && (detail.status !== summary.status || detail.attempt !== summary.attempt);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    if (stale) setVersion((count) => count + 1);
  }, [stale]);
  useEffect(() => {
    if (selected === null) return;
    let current = true;
    setDetailError(null);
    getTask(selected).then(
      (task) => current && setDetail(task),
      (error: unknown) => current && setDetailError(message(error)),
    );
    return () => {
      current = false;
    };
  }, [selected, version]);

  useEffect(() => {
    if (selected === null) return;
    const escape = (event: KeyboardEvent) => event.key === 'Escape' && setSelected(null);
    addEventListener('keydown', escape);
    return () => removeEventListener('keydown', escape);
  }, [selected]);

  const toggleStatus = (status: TaskStatus) =>
    setFilter((current) => ({
      ...current,
      statuses: current.statuses.includes(status) ? current.statuses.filter((one) => one !== status) : statuses.filter((one) => one === status || current.statuses.includes(one)),
    }));

  const select = (id: string | null) => {
    setSelected(id);
    setDetail((current) => (current?.id === id ? current : null));
    setDetailError(null);
  };

  const loadMore = () => {
    if (next === null || loadingMore) return;
    const mine = generation.current;
    setLoadingMore(true);
    fetchPages(filter, next).then(
      (page) => {
        if (generation.current !== mine) return;
        setTasks((list) => append(list, page.tasks));
        setNext(page.next);
        setLoadingMore(false);
      },
      (error: unknown) => {
        if (generation.current !== mine) return;
        setNotice({ kind: 'error', text: message(error) });
        setLoadingMore(false);
      },
    );
  };

  const replace = (task: TaskSummary) => setTasks((list) => list.map((one) => (one.id === task.id ? task : one)));

  const act = (run: () => Promise<void>) => {
    setBusy(true);
    setNotice(null);
    run()
      .catch((error: unknown) => setNotice({ kind: 'error', text: message(error) }))
      .finally(() => setBusy(false));
  };
  const cancel = (id: string) =>
    act(async () => {
      const { task } = await deleteTask(id);
      replace(task);
      setNotice({ kind: 'info', text: `Task ${shortId(id)} canceled.` });
    });
  const remove = (id: string) =>
    act(async () => {
      const { task, action } = await deleteTask(id);
      if (action === 'deleted') {
        setTasks((list) => list.filter((one) => one.id !== id));
        select(null);
      } else replace(task);
      setNotice({ kind: 'info', text: `Task ${shortId(id)} ${action}.` });
    });
  const retry = (id: string) =>
    act(async () => {
      const { task } = await retryTask(id);
      setNotice({ kind: 'info', text: `Task ${shortId(id)} runs again as ${shortId(task.id)}.`, open: task.id });
    });

  // What the detail panel shows: the full record, with the live fields of the list's copy.
  const shown: TaskDetail | null =
    detail === null || detail.id !== selected
      ? null
      : summary === undefined
        ? detail
        : { ...detail, status: summary.status, progress: summary.progress, message: summary.message, startedAt: summary.startedAt, finishedAt: summary.finishedAt, retryable: summary.retryable };

  const routes = (stats?.routes ?? []).map((route) => route.route);
  const filtered = filter.statuses.length > 0 || filter.route !== '' || filter.search !== '';
  return html`<div class=${`shell${selected === null ? '' : ' with-detail'}`}>
    <${Header} config=${config} counts=${counts} stats=${stats} filter=${filter} onStatus=${toggleStatus} />
    <main class="main">
      <${Charts} stats=${stats} theme=${theme} />
      <section class="card tasks" aria-label="Tasks">
        <${Toolbar}
          filter=${filter}
          routes=${routes}
          search=${search}
          onStatus=${toggleStatus}
          onRoute=${(route: string) => setFilter((current) => ({ ...current, route }))}
          onSearch=${setSearch}
          onSubmit=${() => {
            const trimmed = search.trim();
            if (searchable(trimmed)) setFilter((current) => ({ ...current, search: trimmed }));
          }}
        />
        ${notice === null
          ? null
          : html`<p class=${`notice notice-${notice.kind}`} role=${notice.kind === 'error' ? 'alert' : 'status'} data-testid="notice">
              ${notice.text}
              ${notice.open === undefined ? null : html` <button type="button" class="link" onClick=${() => select(notice.open!)}>Open it</button>`}
              <button type="button" class="icon small" aria-label="Dismiss" onClick=${() => setNotice(null)}>×</button>
            </p>`}
        ${listError === null ? null : html`<p class="notice notice-error" role="alert" data-testid="list-error">${listError}</p>`}
        <div class="table-wrap">
          <table class="task-table" aria-busy=${loading}>
            <thead>
              <tr><th scope="col">Task</th><th scope="col">Route</th><th scope="col">Request</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col">Started</th><th scope="col">Finished</th><th scope="col" class="num">Attempt</th></tr>
            </thead>
            <tbody>
              ${tasks.map((task) => html`<${TaskRow} key=${task.id} task=${task} now=${now} selected=${task.id === selected} onSelect=${select} />`)}
              ${!loading && tasks.length === 0 && listError === null
                ? html`<tr class="empty"><td colspan="8" data-testid="empty">${filtered ? 'No task matches these filters.' : 'No tasks yet.'}</td></tr>`
                : null}
            </tbody>
          </table>
        </div>
        <footer class="list-foot">
          <span class="small muted" data-testid="shown">
            ${loading ? 'Loading…' : `${tasks.length.toLocaleString()} task${tasks.length === 1 ? '' : 's'} shown${next === null ? '' : ', more to load'}`}
            <span class=${`live ${live ? 'on' : 'off'}`} title=${live ? 'Live: changes arrive as they happen' : 'Reconnecting…'}>${live ? 'live' : 'offline'}</span>
          </span>
          ${next === null ? null : html`<button type="button" class="btn" data-testid="load-more" disabled=${loadingMore} onClick=${loadMore}>${loadingMore ? 'Loading…' : 'Load more'}</button>`}
        </footer>
      </section>
    </main>
    ${selected === null
      ? null
      : html`<${Detail}
          key=${selected}
          task=${shown}
          error=${detailError}
          config=${config}
          now=${now}
          busy=${busy}
          onClose=${() => select(null)}
          onCancel=${cancel}
          onRetry=${retry}
          onDelete=${remove}
        />`}
  </div>`;
}

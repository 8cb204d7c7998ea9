// The dashboard's page (src/dashboard/page, built into dist/dashboard/) in Debian's Chromium,
// against the fake API of test/fixtures/dashboard-mock.ts: what it shows, what it asks the
// server for, how it follows live changes, and that task values stay text.
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RouteStats, TaskStatus } from '../src/dashboard/page/types.js';
import { startDashboardMock, type DashboardMockOptions, type MockTask } from './fixtures/dashboard-mock.js';

const executablePath = '/usr/bin/chromium';
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const output = new URL('../test-results/', import.meta.url);
const docs = new URL('../docs/', import.meta.url);
const wait = { timeout: 5_000 };

// Ids and values from a fixed seed, so that every run (and the screenshot) is the same.
function ids(seed: number) {
  let state = seed >>> 0;
  const hex = (digits: number) => {
    let text = '';
    while (text.length < digits) {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      text += (state >>> 8).toString(16).padStart(6, '0');
    }
    return text.slice(0, digits);
  };
  return () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
}

// Times are made relative to `now`, which realistic() sets again, so that its relative
// times read as written however long the tests before it took.
let now = Date.now();
const ago = (seconds: number) => new Date(now - seconds * 1000).toISOString();

function task(id: string, fields: Partial<MockTask> & { status: TaskStatus }, createdSecondsAgo: number): MockTask {
  return { id, route: 'POST /reports/:kind', method: 'POST', url: '/reports/monthly', createdAt: ago(createdSecondsAgo), retryable: false, rewindable: false, ...fields };
}

/** `n` tasks, one a second, the newest first; every `every`-th matches `special`. */
function many(n: number, next: () => string, special?: { every: number; fields: Partial<MockTask> & { status: TaskStatus } }): MockTask[] {
  return Array.from({ length: n }, (_, i) =>
    task(next(), special !== undefined && i % special.every === special.every - 1 ? special.fields : { status: 'succeeded', message: `report ${i}` }, 10 + i),
  );
}

function wave(minutes: number, base: number, swing: number, phase: number) {
  return Array.from({ length: minutes }, (_, i) => Math.max(0, Math.round(base + swing * Math.sin(i / 2.2 + phase))));
}

function routeStats(route: string, base: number, runMs: number, phase: number, failing = 0): RouteStats {
  const minute = Math.floor(now / 60_000) * 60_000;
  const done = wave(15, base, base / 2.5, phase);
  const series = done.map((count, i) => ({
    at: new Date(minute - (14 - i) * 60_000).toISOString(),
    submitted: count + (i % 3),
    succeeded: Math.max(0, count - failing * (i % 4 === 1 ? 2 : i % 2)),
    failed: failing * (i % 4 === 1 ? 2 : i % 2),
    canceled: i === 9 ? 1 : 0,
    runP95: i === 4 && route.includes('thumb') ? null : Math.round(runMs * (1 + 0.35 * Math.sin(i / 1.7 + phase))),
  }));
  const sum = (key: 'submitted' | 'succeeded' | 'failed' | 'canceled', last: number) => series.slice(-last).reduce((total, point) => total + point[key], 0);
  const window = (last: number) => ({
    submitted: sum('submitted', last),
    succeeded: sum('succeeded', last),
    failed: sum('failed', last),
    canceled: sum('canceled', last),
    run: { p50: Math.round(runMs * 0.55), p95: runMs, p99: Math.round(runMs * 1.6) },
    queue: { p50: 12, p95: 140, p99: 420 },
  });
  return { route, windows: { '1m': window(1), '5m': window(5), '15m': window(15) }, series };
}

/** A realistic dashboard: a few routes, tasks in every state, charts filled. */
function realistic(): { tasks: MockTask[]; stats: { routes: RouteStats[]; threads: { threads: number; utilization: number; queued: number }; workers: { name: string }[] } } {
  now = Date.now();
  const next = ids(7);
  const tasks: MockTask[] = [
    task(next(), { status: 'running', route: 'POST /reports/:kind', url: '/reports/quarterly?region=emea', owner: 'ana@example.com', startedAt: ago(41), progress: 0.64, message: 'aggregating 128k rows', attempt: 1, attempts: 3, retryable: true }, 44),
    task(next(), { status: 'running', route: 'POST /thumbnails', url: '/thumbnails?size=512', startedAt: ago(6), progress: 0.18, message: 'resizing 14 of 80', attempt: 1, attempts: 1, retryable: true }, 7),
    task(next(), { status: 'queued', route: 'POST /exports', url: '/exports?format=csv', owner: 'ops', attempt: 1, attempts: 3, retryable: true }, 3),
    task(next(), { status: 'failed', route: 'POST /exports', url: '/exports?format=xlsx', owner: 'ops', startedAt: ago(172), finishedAt: ago(160), attempt: 3, attempts: 3, message: 'writing sheet 2', retryable: true, problem: { type: 'https://example.com/problems/upstream', title: 'Upstream timeout', status: 504, detail: 'The warehouse did not answer within 10 s' } }, 180),
    task(next(), { status: 'succeeded', route: 'POST /reports/:kind', url: '/reports/monthly', owner: 'ana@example.com', startedAt: ago(238), finishedAt: ago(221), attempt: 1, attempts: 3, retryable: true, reply: { status: 201, statusMessage: 'Created', headers: [['content-type', 'application/json; charset=utf-8'], ['location', '/reports/8812']], contentType: 'application/json; charset=utf-8', size: 18_432, preview: { encoding: 'text', text: '{"report":8812,"rows":128004,"title":"Monthly"}', truncated: true } } }, 240),
    task(next(), { status: 'succeeded', route: 'POST /thumbnails', url: '/thumbnails?size=256', startedAt: ago(300), finishedAt: ago(297), attempt: 1, attempts: 1, retryable: true, reply: { status: 200, headers: [['content-type', 'image/png']], contentType: 'image/png', size: 48_213, preview: { encoding: 'hex', text: '89504e47 0d0a1a0a 0000000d 49484452  .PNG........IHDR', truncated: true } } }, 301),
    task(next(), { status: 'canceled', route: 'POST /reports/:kind', url: '/reports/yearly', owner: 'ben', startedAt: ago(420), finishedAt: ago(380), attempt: 1, attempts: 3, retryable: true, problem: { type: 'about:blank', title: 'Canceled', status: 409 } }, 422),
    task(next(), { status: 'succeeded', route: 'nightly-cleanup', method: undefined, url: undefined, startedAt: ago(600), finishedAt: ago(540), message: 'removed 3,204 files', retryable: true, reply: { status: 200, headers: [], size: 2, preview: { encoding: 'text', text: '{}', truncated: false } } }, 601),
    task(next(), { status: 'failed', route: 'POST /reports/:kind', url: '/reports/weekly?team=42', startedAt: ago(700), finishedAt: ago(699), attempt: 1, attempts: 1, retryable: false, problem: { type: 'about:blank', title: 'Unprocessable Content', status: 422, detail: 'team 42 has no data for this week' } }, 702),
    task(next(), { status: 'succeeded', route: 'POST /exports', url: '/exports?format=csv', owner: 'ops', startedAt: ago(900), finishedAt: ago(871), attempt: 2, attempts: 3, retryable: true, reply: { status: 200, headers: [['content-type', 'text/csv']], contentType: 'text/csv', size: 120_304, preview: { encoding: 'text', text: 'id,name,total\n1,ACME,1200\n', truncated: true } } }, 930),
  ];
  return {
    tasks,
    stats: {
      routes: [routeStats('POST /reports/:kind', 14, 8_400, 0, 1), routeStats('POST /exports', 6, 21_000, 1.3, 1), routeStats('POST /thumbnails', 42, 950, 2.1)],
      threads: { threads: 8, utilization: 0.62, queued: 3 },
      workers: [{ name: 'web-1' }, { name: 'worker-a' }, { name: 'worker-b' }],
    },
  };
}

let browser: Browser;
const open: { close(): Promise<unknown> }[] = [];

beforeAll(async () => {
  if (!existsSync(executablePath)) throw new Error(`No browser at ${executablePath}: apt-get install -y chromium`);
  browser = await chromium.launch({ executablePath, args });
  mkdirSync(output, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  for (const one of open.splice(0).reverse()) await one.close();
});

interface Seen {
  errors: string[];
  console: string[];
  failed: string[];
  dialogs: string[];
  foreign: string[];
}

/** The mock with `tasks`, and the page open on it, with what the page did watched. */
async function dashboard(tasks: MockTask[], options: DashboardMockOptions & { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark'; stats?: ReturnType<typeof realistic>['stats'] } = {}) {
  const mock = await startDashboardMock(options);
  open.push(mock);
  mock.fake.add(...tasks);
  if (options.stats !== undefined) mock.fake.stats = options.stats;
  const context: BrowserContext = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 800 }, colorScheme: options.colorScheme ?? 'light' });
  open.push(context);
  const page: Page = await context.newPage();
  const seen: Seen = { errors: [], console: [], failed: [], dialogs: [], foreign: [] };
  page.on('pageerror', (error) => seen.errors.push(error.message));
  // Failed requests are counted below, by URL: Chromium's own favicon.ico is not the page's.
  page.on('console', (entry) => entry.type() === 'error' && !entry.text().startsWith('Failed to load resource') && seen.console.push(entry.text()));
  page.on('response', (response) => {
    if (response.status() >= 400 && new URL(response.url()).pathname !== '/favicon.ico') seen.failed.push(`${response.status()} ${response.url()}`);
  });
  page.on('dialog', (dialog) => {
    seen.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('request', (request) => {
    if (!request.url().startsWith(`${mock.origin}/`) && !request.url().startsWith('data:')) seen.foreign.push(request.url());
  });
  // Before the page's own script: a count of what the CSP blocked.
  await page.addInitScript({
    content: `window.__violations = []; document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));`,
  });
  await page.goto(mock.url);
  await page.waitForSelector('[data-testid="task-row"], [data-testid="empty"]', wait);
  await expect.poll(() => mock.fake.clients.size, wait).toBe(1);
  return { mock, fake: mock.fake, page, seen };
}

/** Nothing went wrong: no error, failed request, dialog, request to another origin or CSP violation. */
async function clean(page: Page, seen: Seen) {
  expect(seen.errors).toEqual([]);
  expect(seen.console).toEqual([]);
  expect(seen.failed).toEqual([]);
  expect(seen.dialogs).toEqual([]);
  expect(seen.foreign).toEqual([]);
  expect(await page.evaluate('window.__violations')).toEqual([]);
}

// Run in the page, which has the DOM that this file's types do not.
const computed = (locator: Locator, property: string) =>
  locator.evaluate((element, name) => (globalThis as unknown as { getComputedStyle(element: unknown): Record<string, string> }).getComputedStyle(element)[name], property);
const rowIds = (page: Page) => page.locator('[data-testid="task-row"]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-task-id')));
const row = (page: Page, id: string) => page.locator(`[data-testid="task-row"][data-task-id="${id}"]`);

/** Clicks a task's row and waits for its details. */
async function openDetail(page: Page, id: string) {
  await row(page, id).click();
  const detail = page.getByTestId('detail');
  await expect.poll(() => detail.getByTestId('detail-id').textContent(), wait).toBe(id);
  await detail.locator('.fields').waitFor(wait);
  return detail;
}

describe('the dashboard page, in Chromium', () => {
  it('shows the tasks newest first, the counts and a chart per route, under the CSP', async () => {
    const { tasks, stats } = realistic();
    const { page, seen, fake } = await dashboard(tasks, { stats });
    expect(await rowIds(page)).toEqual([...tasks].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt)).map((one) => one.id));
    const first = row(page, tasks[0]!.id);
    expect(await first.locator('[data-testid="status"]').textContent()).toBe('running');
    expect(await first.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('64');
    expect(await first.textContent()).toContain(tasks[0]!.id.slice(0, 8));
    expect(await first.textContent()).toContain('POST /reports/:kind');
    expect(await first.textContent()).toContain('/reports/quarterly?region=emea');
    expect(await first.textContent()).toContain('1/3');
    // Only running tasks have a progress bar.
    expect(await page.getByRole('progressbar').count()).toBe(2);
    await expect.poll(() => page.getByTestId('count-failed').locator('.count-n').textContent(), wait).toBe('2');
    expect(await page.getByTestId('counts').getAttribute('aria-live')).toBe('polite');
    // A canvas per route, and the routes in the route filter.
    await expect.poll(() => page.locator('[data-testid="route-chart"] canvas').count(), wait).toBe(3);
    expect(await page.locator('#route option').allTextContents()).toEqual(['All routes', 'POST /reports/:kind', 'POST /exports', 'POST /thumbnails']);
    // The page asked its own API by relative URLs, under the mount.
    expect(fake.requested('api/tasks')[0]!.toString()).toBe('limit=50');
    expect(fake.requested('api/events')[0]!.toString()).toBe('');
    expect(fake.requested('api/stats').length).toBeGreaterThanOrEqual(1);
    expect(await page.title()).toBe('Tasks');
    await clean(page, seen);
  });

  it('redirects the mount to the mount with a slash, so that relative URLs resolve under it', async () => {
    const { page, mock, seen } = await dashboard([], { mount: '/ops/dash' });
    await page.goto(mock.url.slice(0, -1));
    expect(page.url()).toBe(mock.url);
    await page.waitForSelector('[data-testid="empty"]', wait);
    expect(await page.getByTestId('empty').textContent()).toBe('No tasks yet.');
    await clean(page, seen);
  });

  it('follows the event stream: progress moves, new tasks come in at the top, changed ones in place, removed ones go', async () => {
    const next = ids(1);
    const running = task(next(), { status: 'running', progress: 0.1, startedAt: ago(5) }, 6);
    const older = task(next(), { status: 'succeeded' }, 60);
    const { page, fake, seen } = await dashboard([running, older]);
    const bar = row(page, running.id).getByRole('progressbar');
    expect(await bar.getAttribute('aria-valuenow')).toBe('10');

    fake.update(running.id, { progress: 0.45, message: 'halfway there' });
    await expect.poll(() => bar.getAttribute('aria-valuenow'), wait).toBe('45');
    expect(await row(page, running.id).getByTestId('message').textContent()).toBe('halfway there');
    fake.update(running.id, { progress: 0.9 });
    await expect.poll(() => bar.getAttribute('aria-valuenow'), wait).toBe('90');

    const fresh = task(next(), { status: 'queued' }, 0);
    fake.add(fresh);
    await expect.poll(() => rowIds(page), wait).toEqual([fresh.id, running.id, older.id]);

    fake.update(running.id, { status: 'succeeded', progress: 1, finishedAt: ago(0) });
    await expect.poll(() => row(page, running.id).getByTestId('status').textContent(), wait).toBe('succeeded');
    expect(await row(page, running.id).getByRole('progressbar').count()).toBe(0);
    // In place: the same order.
    expect(await rowIds(page)).toEqual([fresh.id, running.id, older.id]);

    fake.remove(older.id);
    await expect.poll(() => rowIds(page), wait).toEqual([fresh.id, running.id]);
    await expect.poll(() => page.getByTestId('count-succeeded').locator('.count-n').textContent(), wait).toBe('1');
    // Not by reloading: one list request, one stream.
    expect(fake.requested('api/tasks')).toHaveLength(1);
    expect(fake.requested('api/events')).toHaveLength(1);
    await clean(page, seen);
  });

  it('loads the list again after the event stream connects again, for the changes it missed', async () => {
    const next = ids(8);
    const running = task(next(), { status: 'running', progress: 0.3 }, 5);
    const { page, fake, seen } = await dashboard([running]);
    fake.drop();
    // Changed while no stream was open: nobody is told.
    fake.tasks.set(running.id, { ...running, status: 'succeeded', progress: 1, finishedAt: ago(0) });
    await expect.poll(() => fake.requested('api/events').length, wait).toBe(2);
    await expect.poll(() => row(page, running.id).getByTestId('status').textContent(), wait).toBe('succeeded');
    expect(fake.requested('api/tasks')).toHaveLength(2);
    await clean(page, seen);
  });

  it('filters by status with the chips: the list and the stream ask for those statuses, and a task that leaves them goes', async () => {
    const next = ids(2);
    const tasks = many(30, next, { every: 3, fields: { status: 'failed', problem: { type: 'about:blank', title: 'Boom', status: 500 } } });
    tasks.push(task(next(), { status: 'canceled' }, 500), task(next(), { status: 'running', progress: 0.5 }, 501));
    const { page, fake, seen } = await dashboard(tasks);

    await page.getByTestId('filter-failed').click();
    await expect.poll(() => fake.requested('api/tasks').at(-1)?.toString(), wait).toBe('status=failed&limit=50');
    await expect.poll(() => page.locator('[data-testid="task-row"] [data-testid="status"]').allTextContents(), wait).toEqual(Array(10).fill('failed'));
    expect(await page.getByTestId('filter-failed').getAttribute('aria-pressed')).toBe('true');
    await expect.poll(() => fake.requested('api/events').at(-1)?.toString(), wait).toBe('status=failed');
    await expect.poll(() => fake.clients.size, wait).toBe(1);

    await page.getByTestId('filter-canceled').click();
    await expect.poll(() => fake.requested('api/tasks').at(-1)?.toString(), wait).toBe('status=failed&status=canceled&limit=50');
    await expect.poll(() => page.locator('[data-testid="task-row"]').count(), wait).toBe(11);
    await expect.poll(() => fake.requested('api/events').at(-1)?.toString(), wait).toBe('status=failed&status=canceled');
    await expect.poll(() => fake.clients.size, wait).toBe(1);

    // The server says a task no longer matches: it goes.
    const failed = tasks[2]!;
    fake.update(failed.id, { status: 'queued', problem: undefined });
    await expect.poll(() => row(page, failed.id).count(), wait).toBe(0);

    await page.getByTestId('filter-failed').click();
    await page.getByTestId('filter-canceled').click();
    await expect.poll(() => fake.requested('api/tasks').at(-1)?.toString(), wait).toBe('limit=50');
    await expect.poll(() => page.locator('[data-testid="task-row"]').count(), wait).toBe(32);
    await clean(page, seen);
  });

  it('filters by route from the routes of api/stats', async () => {
    const { tasks, stats } = realistic();
    const { page, fake, seen } = await dashboard(tasks, { stats });
    await expect.poll(() => page.locator('#route option').count(), wait).toBe(4);
    await page.getByLabel('Route', { exact: true }).selectOption('POST /exports');
    await expect.poll(() => fake.requested('api/tasks').at(-1)?.get('route'), wait).toBe('POST /exports');
    const expected = tasks.filter((one) => one.route === 'POST /exports').map((one) => one.id);
    await expect.poll(() => rowIds(page), wait).toEqual(expected);
    await expect.poll(() => fake.requested('api/events').at(-1)?.get('route'), wait).toBe('POST /exports');
    await clean(page, seen);
  });

  it('keeps the filters in the hash, so that a view can be linked to', async () => {
    const { tasks, stats } = realistic();
    const { page, fake, mock, seen } = await dashboard(tasks, { stats });
    await page.getByTestId('filter-failed').click();
    await page.getByTestId('search').fill('weekly');
    await page.getByTestId('search').press('Enter');
    await expect.poll(() => page.evaluate('location.hash'), wait).toBe('#status=failed&q=weekly');
    const linked = await page.context().newPage();
    await linked.goto(`${mock.url}#status=failed&q=weekly`);
    await expect.poll(() => rowIds(linked), wait).toEqual([tasks[8]!.id]);
    expect(fake.requested('api/tasks').at(-1)!.toString()).toBe('status=failed&text=weekly&limit=50');
    expect(await linked.getByTestId('filter-failed').getAttribute('aria-pressed')).toBe('true');
    expect(await linked.getByTestId('search').inputValue()).toBe('weekly');
    await clean(page, seen);
  });

  it('searches by an id prefix across all pages: a task on page 3 is found', async () => {
    const tasks = many(130, ids(3));
    const target = tasks[120]!;
    const { page, fake, seen } = await dashboard(tasks);
    expect(await page.locator('[data-testid="task-row"]').count()).toBe(50);
    expect(await row(page, target.id).count()).toBe(0);

    const prefix = target.id.slice(0, 6).toUpperCase();
    await page.getByTestId('search').fill(prefix);
    await expect.poll(() => fake.requested('api/tasks').at(-1)?.toString(), wait).toBe(`id=${prefix.toLowerCase()}&limit=50`);
    await expect.poll(() => rowIds(page), wait).toEqual(tasks.filter((one) => one.id.startsWith(prefix.toLowerCase())).map((one) => one.id));
    expect(await rowIds(page)).toContain(target.id);
    expect(await page.getByLabel('Search tasks by id or text').inputValue()).toBe(prefix);

    // Cleared: the whole list again.
    await page.getByTestId('search').fill('');
    await expect.poll(() => fake.requested('api/tasks').at(-1)?.toString(), wait).toBe('limit=50');
    await expect.poll(() => page.locator('[data-testid="task-row"]').count(), wait).toBe(50);
    await clean(page, seen);
  });

  it('searches by words across pages the server answers short, with a "Load more" that goes on', async () => {
    const tasks = many(200, ids(4), { every: 10, fields: { status: 'succeeded', message: 'invoice 7 sent to ACME' } });
    const { page, fake, seen } = await dashboard(tasks);
    // The server looks at 5 tasks a request: a page of 50 found needs many requests.
    fake.budget = 5;
    await page.getByTestId('search').fill('Invoice acme');
    await page.getByTestId('search').press('Enter');
    await expect.poll(() => fake.requested('api/tasks').some((query) => query.get('text') === 'Invoice acme'), wait).toBe(true);
    const found = tasks.filter((one) => one.message === 'invoice 7 sent to ACME').map((one) => one.id);
    // The first "page": as many short pages as the page follows for one list (10), 50 tasks looked at.
    await expect.poll(() => rowIds(page), wait).toEqual(found.slice(0, 5));
    const searches = fake.requested('api/tasks').filter((query) => query.get('text') === 'Invoice acme');
    expect(searches).toHaveLength(10);
    // Each request took the cursor of the one before.
    expect(searches[0]!.get('cursor')).toBeNull();
    expect(new Set(searches.map((query) => query.get('cursor'))).size).toBe(10);

    await page.getByTestId('load-more').click();
    await expect.poll(() => rowIds(page), wait).toEqual(found.slice(0, 10));
    while ((await page.getByTestId('load-more').count()) > 0) {
      const shown = (await rowIds(page)).length;
      await page.getByTestId('load-more').click();
      await expect.poll(async () => (await rowIds(page)).length > shown || (await page.getByTestId('load-more').count()) === 0, wait).toBe(true);
    }
    expect(await rowIds(page)).toEqual(found);
    // A search the server cannot run is not sent.
    const before = fake.requests.length;
    await page.getByTestId('search').fill('!');
    await expect.poll(() => page.locator('#search-hint').textContent(), wait).toBe('Type two letters or digits at least');
    await page.getByTestId('search').press('Enter');
    expect(fake.requests.slice(before).filter((request) => request.url.startsWith('api/tasks'))).toEqual([]);
    await clean(page, seen);
  });

  it('"Load more" follows next, page after page, until there is none', async () => {
    const tasks = many(120, ids(5));
    const { page, fake, seen } = await dashboard(tasks);
    expect(await rowIds(page)).toEqual(tasks.slice(0, 50).map((one) => one.id));
    const first = fake.list(new URLSearchParams('limit=50'));
    await page.getByTestId('load-more').click();
    await expect.poll(() => rowIds(page), wait).toEqual(tasks.slice(0, 100).map((one) => one.id));
    expect(fake.requested('api/tasks')[1]!.get('cursor')).toBe(first.next);
    await page.getByTestId('load-more').click();
    await expect.poll(() => rowIds(page), wait).toEqual(tasks.map((one) => one.id));
    expect(await page.getByTestId('load-more').count()).toBe(0);
    expect(await page.getByTestId('shown').textContent()).toContain('120 tasks shown');
    await clean(page, seen);
  });

  for (const withCsp of [true, false]) {
    it(`renders markup in task values as text, and no script runs (${withCsp ? 'with' : 'even without'} the CSP)`, async () => {
      const payloads = ['<img src=x onerror=alert(1)>', '"><svg onload=alert(2)>', '<script>window.__pwned=1</script>', '<img src=x onerror="window.__pwned=1">'];
      const [img, svg, script, flag] = payloads as [string, string, string, string];
      const next = ids(6);
      const failed = task(next(), { status: 'failed', route: svg, method: 'POST', url: `/x?q=${img}`, owner: script, message: img, retryable: true, problem: { type: 'about:blank', title: svg, status: 500, detail: img } }, 5);
      const succeeded = task(next(), { status: 'succeeded', route: flag, url: `/y/${svg}`, message: flag, retryable: true, reply: { status: 200, headers: [['x-evil', img], [script, svg]], contentType: 'text/html', size: 80, preview: { encoding: 'text', text: `${script}${img}`, truncated: false } } }, 6);
      const { page, seen } = await dashboard([failed, succeeded], { csp: withCsp, title: img });

      expect(await page.locator('h1').textContent()).toBe(img);
      expect(await row(page, failed.id).getByTestId('message').textContent()).toBe(img);
      expect(await row(page, failed.id).textContent()).toContain(svg);
      expect(await row(page, failed.id).textContent()).toContain(`/x?q=${img}`);
      expect(await row(page, succeeded.id).getByTestId('message').textContent()).toBe(flag);

      await row(page, failed.id).click();
      const detail = page.getByTestId('detail');
      await detail.getByTestId('problem').waitFor(wait);
      expect(await detail.getByTestId('problem').textContent()).toContain(img);
      expect(await detail.textContent()).toContain(script);
      await row(page, succeeded.id).click();
      await detail.getByTestId('preview').waitFor(wait);
      expect(await detail.getByTestId('preview').textContent()).toBe(`${script}${img}`);
      expect(await detail.getByTestId('reply-headers').textContent()).toContain(img);

      // Nothing of the values became an element, and nothing ran.
      expect(await page.locator('#app img, #app svg, #app script').count()).toBe(0);
      expect(await page.evaluate('window.__pwned')).toBeUndefined();
      await clean(page, seen);
    });
  }

  it('shows a task in the detail panel: fields, reply headers, a binary reply as hex in monospace, and the problem', async () => {
    const { tasks } = realistic();
    const { page, seen } = await dashboard(tasks);
    const png = tasks.find((one) => one.reply?.preview.encoding === 'hex')!;
    const detail = await openDetail(page, png.id);
    await detail.getByTestId('preview').waitFor(wait);
    const preview = detail.getByTestId('preview');
    expect(await preview.getAttribute('data-encoding')).toBe('hex');
    expect(await preview.textContent()).toBe(png.reply!.preview.text);
    expect(await computed(preview, 'fontFamily')).toMatch(/monospace/);
    expect(await detail.textContent()).toContain('Binary body, as hex · first 4 KB');
    expect(await detail.getByTestId('reply-headers').textContent()).toContain('image/png');
    expect(await detail.textContent()).toContain('47.1 KB');

    const failed = tasks.find((one) => one.problem?.title === 'Upstream timeout')!;
    await openDetail(page, failed.id);
    await detail.getByTestId('problem').waitFor(wait);
    expect(await detail.getByTestId('problem').textContent()).toContain('The warehouse did not answer within 10 s');
    expect(await detail.getByTestId('problem').textContent()).toContain('"status": 504');
    expect(await detail.textContent()).toContain('3 of 3');
    expect(await detail.textContent()).toContain('ops');

    await page.keyboard.press('Escape');
    await expect.poll(() => detail.count(), wait).toBe(0);
    await clean(page, seen);
  });

  it('cancels a live task, retries a failed one and deletes a finished one, as JSON', async () => {
    const { tasks } = realistic();
    const { page, fake, seen } = await dashboard(tasks);
    const detail = page.getByTestId('detail');

    const running = tasks[0]!;
    await openDetail(page, running.id);
    expect(await detail.getByTestId('retry').count()).toBe(1);
    expect(await detail.getByTestId('delete').count()).toBe(0);
    await detail.getByTestId('cancel').click();
    await expect.poll(() => row(page, running.id).getByTestId('status').textContent(), wait).toBe('canceled');
    await expect.poll(() => detail.getByTestId('cancel').count(), wait).toBe(0);
    expect(fake.requests.find((request) => request.method === 'DELETE')).toEqual({ method: 'DELETE', url: `api/tasks/${running.id}`, contentType: 'application/json' });

    const failed = tasks.find((one) => one.status === 'failed' && one.retryable)!;
    await openDetail(page, failed.id);
    await detail.getByTestId('retry').click();
    await expect.poll(() => page.getByTestId('notice').textContent(), wait).toContain('runs again as');
    const again = [...fake.tasks.values()].find((one) => !tasks.some((old) => old.id === one.id))!;
    // The new task arrives by the stream, at the top.
    await expect.poll(async () => (await rowIds(page))[0], wait).toBe(again.id);
    expect(fake.requests.find((request) => request.method === 'POST')).toEqual({ method: 'POST', url: `api/tasks/${failed.id}/retry`, contentType: 'application/json' });

    // Retry only where the server says it can run again.
    const inline = tasks.find((one) => !one.retryable)!;
    await openDetail(page, inline.id);
    expect(await detail.getByTestId('retry').count()).toBe(0);
    expect(await detail.getByTestId('cancel').count()).toBe(0);
    await detail.getByTestId('delete').click();
    await expect.poll(() => row(page, inline.id).count(), wait).toBe(0);
    await expect.poll(() => detail.count(), wait).toBe(0);
    expect(fake.tasks.has(inline.id)).toBe(false);
    await clean(page, seen);
  });

  it('has no cancel, retry or delete button when the dashboard is read-only', async () => {
    const { tasks } = realistic();
    const { page, fake, seen } = await dashboard(tasks, { readOnly: true });
    expect(await page.locator('html').getAttribute('data-read-only')).toBe('true');
    for (const one of [tasks[0]!, tasks.find((t) => t.status === 'failed')!, tasks.find((t) => t.status === 'succeeded')!]) {
      await openDetail(page, one.id);
      expect(await page.locator('[data-testid="cancel"], [data-testid="retry"], [data-testid="delete"]').count()).toBe(0);
    }
    expect(await page.locator('.brand').textContent()).toContain('read-only');
    expect(fake.requests.filter((request) => request.method !== 'GET')).toEqual([]);
    await clean(page, seen);
  });

  it('on a phone in dark mode: the table becomes cards, the colours dark', async () => {
    const { tasks, stats } = realistic();
    const { page, seen } = await dashboard(tasks, { stats, viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    await expect.poll(() => page.locator('[data-testid="route-chart"] canvas').count(), wait).toBe(3);
    expect(await computed(page.locator('.task-table thead'), 'display')).toBe('none');
    expect(await computed(row(page, tasks[0]!.id), 'display')).toBe('grid');
    expect(await computed(page.locator('body'), 'backgroundColor')).toBe('rgb(15, 18, 22)');
    // Nothing wider than the screen.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: new URL('dashboard-phone-dark.png', output).pathname, fullPage: true, animations: 'disabled' });
    await row(page, tasks[0]!.id).click();
    await page.getByTestId('detail').locator('.fields').waitFor(wait);
    await page.screenshot({ path: new URL('dashboard-phone-detail.png', output).pathname, animations: 'disabled' });
    await clean(page, seen);
  });

  it('takes screenshots, light and dark, with the detail open (docs/dashboard.png with UPDATE_DOCS=1), 1280×800', async () => {
    const { tasks, stats } = realistic();
    const { page, seen } = await dashboard(tasks, { stats, title: 'Acme · background tasks' });
    await expect.poll(() => page.locator('[data-testid="route-chart"] canvas').count(), wait).toBe(3);
    await page.evaluate('document.fonts.ready.then(() => true)');
    await page.screenshot({ path: new URL('dashboard.png', output).pathname, animations: 'disabled' });
    // The README's copy, when asked for: UPDATE_DOCS=1 npx vitest run test/dashboard-page.test.ts
    if (process.env.UPDATE_DOCS === '1') {
      mkdirSync(docs, { recursive: true });
      await page.screenshot({ path: new URL('dashboard.png', docs).pathname, animations: 'disabled' });
    }
    await row(page, tasks[3]!.id).click();
    await page.getByTestId('detail').getByTestId('problem').waitFor(wait);
    await page.screenshot({ path: new URL('dashboard-detail.png', output).pathname, animations: 'disabled' });
    const dark = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
    open.push(dark);
    const night = await dark.newPage();
    await night.goto(page.url());
    await expect.poll(() => night.locator('[data-testid="route-chart"] canvas').count(), wait).toBe(3);
    await night.screenshot({ path: new URL('dashboard-dark.png', output).pathname, animations: 'disabled' });
    await clean(page, seen);
  });
});

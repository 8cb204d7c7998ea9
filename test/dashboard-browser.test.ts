// The dashboard end to end: the real page in Debian's Chromium, over tasks.dashboard() and
// real tasks (inline handlers held by deferred promises, and a worker module on real threads).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAsyncApi, type AsyncApi } from 'express-async-api';
import express from 'express';
import { chromium, type Browser, type Page } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferred, untilFinished, untilStatus, type Deferred } from './helpers.js';
import { listen } from './load.js';

const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const wait = { timeout: 10_000 };
const scratch = mkdtempSync(join(tmpdir(), 'dashboard-browser-'));

// Values handed to a handler one at a time, in order, whether it waits already or not.
class Feed {
  readonly #values: (number | 'end')[] = [];
  #waiting: ((value: number | 'end') => void) | undefined;
  push(value: number | 'end'): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting !== undefined) waiting(value);
    else this.#values.push(value);
  }
  next(): Promise<number | 'end'> {
    if (this.#values.length > 0) return Promise.resolve(this.#values.shift()!);
    return new Promise((resolve) => (this.#waiting = resolve));
  }
}

describe('the dashboard in Chromium, over real tasks', () => {
  let browser: Browser;
  let tasks: AsyncApi;
  let base: string;
  let close: () => Promise<void>;
  let app: express.Express;
  // What a held inline task does next (report a fraction, or end), by the name in its URL;
  // and its abort, heard.
  const feeds = new Map<string, Feed>();
  const feed = (name: string): Feed => feeds.get(name) ?? feeds.set(name, new Feed()).get(name)!;
  const aborted = new Map<string, Deferred<void>>();

  beforeAll(async () => {
    tasks = createAsyncApi({ onError: () => {}, threads: { gracePeriod: 200 } });
    app = express();
    app.use(express.json());
    app.post('/held/:name', tasks.asyncApi(async (req, res) => {
      const { name } = req.params as { name: string };
      const stop = deferred();
      aborted.set(name, stop);
      req.task.signal.addEventListener('abort', () => stop.resolve());
      for (;;) {
        const next = await Promise.race([feed(name).next(), stop.promise.then(() => 'end' as const)]);
        if (next === 'end') break;
        req.task.progress(next, `step ${next}`);
      }
      res.json({ name });
    }));
    app.post('/quick/:n', tasks.asyncApi(async (req, res) => res.json({ n: req.params.n })));
    app.post('/says', tasks.asyncApi(async (req, res) => {
      req.task.progress(0.5, String(req.body.message));
      throw Object.assign(new Error(String(req.body.message)), { status: 422 });
    }));
    app.post('/flaky', tasks.asyncApi.worker(new URL('./fixtures/handlers/flaky.mjs', import.meta.url)));
    app.use('/admin/tasks', tasks.dashboard({ title: 'Tasks under test' }));
    app.use(tasks.router);
    ({ base, close } = await listen(app));
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args });
  });

  afterAll(async () => {
    await browser?.close();
    await close?.();
    await tasks?.close();
  });

  // A page on the dashboard that records any dialog and any script a task's value might run.
  async function open(): Promise<{ page: Page; dialogs: string[]; errors: string[] }> {
    const page = await browser.newPage();
    const dialogs: string[] = [];
    const errors: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${base}/admin/tasks/`);
    await page.getByTestId('counts').waitFor(wait);
    return { page, dialogs, errors };
  }
  const row = (page: Page, id: string) => page.locator(`[data-testid="task-row"][data-task-id="${id}"]`);

  it("moves a running task's progress bar as the task reports progress", async () => {
    const { page, errors } = await open();
    const submitted = await request(app).post('/held/bar').send({});
    const { id } = submitted.body;
    feed('bar').push(0.2);
    const bar = row(page, id).getByRole('progressbar');
    await expect.poll(() => bar.getAttribute('aria-valuenow'), wait).toBe('20');
    feed('bar').push(0.7);
    await expect.poll(() => bar.getAttribute('aria-valuenow'), wait).toBe('70');
    feed('bar').push('end');
    await expect.poll(() => row(page, id).getByTestId('status').textContent(), wait).toBe('succeeded');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('finds by an id prefix a task that is on the third page of the list', async () => {
    const made: string[] = [];
    for (let n = 0; n < 130; n++) made.push((await request(app).post(`/quick/${n}`).send({})).body.id);
    await untilFinished(request(app), `/status/${made.at(-1)}`);
    // Newest first, 50 a page: the fifth task made is the 126th listed, on page 3.
    const target = made[4]!;
    const { page, errors } = await open();
    await expect(row(page, target).count()).resolves.toBe(0);
    await page.getByTestId('search').fill(target.slice(0, 8));
    await row(page, target).waitFor(wait);
    expect(await page.getByTestId('task-row').count()).toBe(made.filter((id) => id.startsWith(target.slice(0, 8))).length);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows only failed tasks under the failed filter, and a script in a message as text', async () => {
    const attack = '<img src=x onerror="window.__attacked=1;alert(1)">';
    const failed = await request(app).post('/says').send({ message: attack });
    await untilFinished(request(app), failed.headers.location);
    const { page, dialogs, errors } = await open();
    await page.getByTestId('filter-failed').click();
    await row(page, failed.body.id).waitFor(wait);
    const statuses = await page.getByTestId('task-row').getByTestId('status').allTextContents();
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set(['failed']));
    expect(await row(page, failed.body.id).getByTestId('message').textContent()).toBe(attack);
    await row(page, failed.body.id).click();
    await page.getByTestId('problem').waitFor(wait);
    expect(await page.getByTestId('problem').textContent()).toContain(attack);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    // (The policy would stop an inline handler too: no <img> at all is what shows the escaping.)
    expect(await page.evaluate(() => (globalThis as { __attacked?: number }).__attacked)).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('cancels a running task from its detail panel: its handler hears of it', async () => {
    const submitted = await request(app).post('/held/cancel-me').send({});
    const { id } = submitted.body;
    await untilStatus(request(app), submitted.headers.location, 'running');
    const { page, errors } = await open();
    await row(page, id).click();
    await page.getByTestId('cancel').click();
    await aborted.get('cancel-me')!.promise;
    await expect.poll(() => row(page, id).getByTestId('status').textContent(), wait).toBe('canceled');
    expect((await request(app).get(submitted.headers.location as string)).status).toBe(409);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('runs a failed worker task again: the new task succeeds', async () => {
    const file = join(scratch, 'runs');
    const failed = await request(app).post('/flaky').send({ file, failures: 1 });
    expect((await untilFinished(request(app), failed.headers.location)).status).toBe(500);
    const { page, errors } = await open();
    await row(page, failed.body.id).click();
    const before = new Set((await page.getByTestId('task-row').evaluateAll((rows) => rows.map((one) => one.getAttribute('data-task-id')))) as (string | null)[]);
    await page.getByTestId('retry').click();
    await expect
      .poll(async () => {
        const ids = await page.getByTestId('task-row').evaluateAll((rows) => rows.map((one) => one.getAttribute('data-task-id')));
        return ids.find((one) => !before.has(one));
      }, wait)
      .toBeDefined();
    const ids = await page.getByTestId('task-row').evaluateAll((rows) => rows.map((one) => one.getAttribute('data-task-id')));
    const retried = ids.find((one) => !before.has(one))!;
    await expect.poll(() => row(page, retried).getByTestId('status').textContent(), wait).toBe('succeeded');
    expect((await request(app).get(`/status/${retried}`)).body).toEqual({ runs: 2 });
    expect(errors).toEqual([]);
    await page.close();
  });
});

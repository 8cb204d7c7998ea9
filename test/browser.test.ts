import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExample } from './helpers.js';

// Debian's Chromium, which .ci/run installs; playwright-core never downloads a browser.
const executablePath = '/usr/bin/chromium';
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const output = new URL('../test-results/', import.meta.url);

describe('the browser demo (examples/browser), in Chromium', () => {
  let browser: Browser;
  let demo: ReturnType<typeof startExample>;
  let base: string;

  beforeAll(async () => {
    if (!existsSync(executablePath)) throw new Error(`No browser at ${executablePath}: apt-get install -y chromium`);
    demo = startExample('examples/basic/server.js');
    base = await demo.url;
    browser = await chromium.launch({ executablePath, args });
    mkdirSync(output, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    demo?.child.kill('SIGTERM');
  });

  it('starts tasks from buttons and shows their progress and results live', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${base}/`);

    // Each task's row is added at the top once its submit is answered: a locator of the first
    // row is only that task's once the row is there.
    const rows = page.locator('#tasks tr');
    const start = async (name: string) => {
      const before = await rows.count();
      await page.getByRole('button', { name }).click();
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(before + 1);
      return rows.first();
    };

    const report = await start('2-second report');
    // Live progress: a status document with a progress arrives while it runs.
    await expect.poll(() => report.locator('.status').textContent(), { timeout: 10_000 }).toBe('running');
    await expect.poll(async () => Number(await report.locator('progress').getAttribute('value')), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await report.locator('.message').textContent()).toMatch(/^step \d of 2$/);
    // Then the route's real answer.
    await report.locator('.result pre').waitFor({ timeout: 15_000 });
    expect(await report.locator('.status').textContent()).toBe('succeeded');
    expect(await report.locator('.result pre').textContent()).toMatch(/^201 \{\n "report": "[0-9a-f-]{36}",\n "rows": 200,\n "title": "from the browser"\n\}$/);

    const failing = await start('A task that fails');
    await failing.locator('.result pre').waitFor({ timeout: 10_000 });
    expect(await failing.locator('.status').textContent()).toBe('failed');
    expect(await failing.locator('.result pre').textContent()).toMatch(/^422 /);

    const long = await start('10-second report');
    await expect.poll(() => long.locator('.status').textContent(), { timeout: 10_000 }).toBe('running');
    await long.getByRole('button', { name: 'Cancel' }).click();
    await long.locator('.result pre').waitFor({ timeout: 10_000 });
    expect(await long.locator('.status').textContent()).toBe('canceled');
    expect(await long.locator('.result pre').textContent()).toMatch(/^409 /);

    await page.screenshot({ path: new URL('browser-demo.png', output).pathname, fullPage: true });
    expect(errors).toEqual([]);
  }, 60_000);
});

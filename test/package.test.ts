import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packCleanCheckout, root } from './pack.js';

// A consumer inside the repository, so its imports of express and of the package's
// dependencies resolve from the repository's node_modules, as they would from its own. The
// package is packed from a clean checkout, which has no dist/: `prepack` builds it.
let consumer: string;
let files: string[];

beforeAll(() => {
  ({ consumer, files } = packCleanCheckout());
}, 120_000);

afterAll(() => {
  rmSync(consumer, { recursive: true, force: true });
});

const program = (load: string) => `${load}
const app = express();
const tasks = createAsyncApi();
app.post('/r', tasks.asyncApi(async () => ({ answer: 42 })));
app.use(tasks.router);
const server = app.listen(0, '127.0.0.1', async () => {
  const base = 'http://127.0.0.1:' + server.address().port;
  const submitted = await fetch(base + '/r', { method: 'POST' });
  let response;
  for (let polls = 0; polls < 10000; polls++) {
    response = await fetch(base + submitted.headers.get('location'));
    if (response.status !== 202) break;
  }
  console.log(submitted.status, JSON.stringify(await response.json()), typeof TaskNotFoundError);
  server.close();
  await tasks.close();
});
`;

describe('the published package', () => {
  it('holds the build, the readme and the licence, and no sources or tests', () => {
    expect(files).toContain('package.json');
    expect(files).toContain('README.md');
    expect(files).toContain('LICENSE');
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.cjs');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/index.d.cts');
    expect(files).toContain('dist/thread-entry.js');
    expect(files).toContain('dist/client.js');
    expect(files).toContain('dist/client.cjs');
    expect(files).toContain('dist/bullmq.js');
    expect(files).toContain('dist/bullmq.cjs');
    expect(files).toContain('dist/metrics.js');
    expect(files).toContain('dist/metrics.cjs');
    expect(files).toContain('dist/metrics.d.ts');
    expect(files).toContain('dist/metrics.d.cts');
    expect(files).toContain('dist/cli.js');
    // The dashboard's page, with preact, htm and uPlot bundled in: no dependencies of them.
    expect(files).toContain('dist/dashboard/dashboard.js');
    expect(files).toContain('dist/dashboard/dashboard.css');
    expect(files.filter((file) => !file.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(file))).toEqual([]);
  });

  it('works from an ES module', () => {
    writeFileSync(
      join(consumer, 'esm.mjs'),
      program(`import express from 'express';\nimport { createAsyncApi, TaskNotFoundError } from 'express-async-api';`),
    );
    expect(execFileSync(process.execPath, ['esm.mjs'], { cwd: consumer, encoding: 'utf8' }).trim()).toBe('202 {"answer":42} function');
  });

  it('works from CommonJS', () => {
    writeFileSync(
      join(consumer, 'cjs.cjs'),
      program(`const express = require('express');\nconst { createAsyncApi, TaskNotFoundError } = require('express-async-api');`),
    );
    expect(execFileSync(process.execPath, ['cjs.cjs'], { cwd: consumer, encoding: 'utf8' }).trim()).toBe('202 {"answer":42} function');
  });

  it('has the client entry for import and for require', () => {
    writeFileSync(join(consumer, 'client.mjs'), `import { waitForTask } from 'express-async-api/client';\nconsole.log(typeof waitForTask);\n`);
    writeFileSync(join(consumer, 'client.cjs'), `const { waitForTask } = require('express-async-api/client');\nconsole.log(typeof waitForTask);\n`);
    for (const file of ['client.mjs', 'client.cjs']) {
      expect(execFileSync(process.execPath, [file], { cwd: consumer, encoding: 'utf8' }).trim()).toBe('function');
    }
  });

  it('has express-async-api/bullmq for import and for require, sharing the main entry\'s classes', () => {
    writeFileSync(
      join(consumer, 'bullmq.mjs'),
      `import { startWorker, RedisStore } from 'express-async-api/bullmq';\nimport * as main from 'express-async-api';\nconsole.log(typeof startWorker, typeof RedisStore, typeof main.TaskLimitError);\n`,
    );
    writeFileSync(
      join(consumer, 'bullmq.cjs'),
      `const { bullmqBackend } = require('express-async-api/bullmq');\nconsole.log(typeof bullmqBackend);\n`,
    );
    expect(execFileSync(process.execPath, ['bullmq.mjs'], { cwd: consumer, encoding: 'utf8' }).trim()).toBe('function function function');
    expect(execFileSync(process.execPath, ['bullmq.cjs'], { cwd: consumer, encoding: 'utf8' }).trim()).toBe('function');
  });

  it('has express-async-api/metrics for import and for require, taken by the main entry', () => {
    const use = (load: string) => `${load}
const registry = new Registry();
const tasks = createAsyncApi({ metrics: asyncApiMetrics({ registry }) });
tasks.define('t', () => 1).submit(0).then(async (handle) => {
  await handle.result();
  const text = await registry.metrics();
  console.log(/async_api_tasks_finished_total\{route="t",status="succeeded"\} 1/.test(text));
  await tasks.close();
});
`;
    writeFileSync(join(consumer, 'metrics.mjs'), use(`import { asyncApiMetrics } from 'express-async-api/metrics';\nimport { createAsyncApi } from 'express-async-api';\nimport { Registry } from 'prom-client';`));
    writeFileSync(join(consumer, 'metrics.cjs'), use(`const { asyncApiMetrics } = require('express-async-api/metrics');\nconst { createAsyncApi } = require('express-async-api');\nconst { Registry } = require('prom-client');`));
    for (const file of ['metrics.mjs', 'metrics.cjs']) {
      expect(execFileSync(process.execPath, [file], { cwd: consumer, encoding: 'utf8' }).trim()).toBe('true');
    }
  });

  it('runs without prom-client and @opentelemetry/api, from ESM and CommonJS; the worker names what --metrics-port needs', () => {
    // The package, its own dependencies, express, bullmq and ioredis: no optional peer of metrics or traces.
    const bare = mkdtempSync(join(tmpdir(), 'no-observers-'));
    try {
      const modules = join(bare, 'node_modules');
      mkdirSync(modules);
      cpSync(join(consumer, 'node_modules', 'express-async-api'), join(modules, 'express-async-api'), { recursive: true });
      const manifest = JSON.parse(readFileSync(join(modules, 'express-async-api', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
      for (const name of [...Object.keys(manifest.dependencies), 'express', 'bullmq', 'ioredis']) symlinkSync(join(root, 'node_modules', name), join(modules, name), 'dir');
      writeFileSync(join(bare, 'esm.mjs'), program(`import express from 'express';\nimport { createAsyncApi, TaskNotFoundError } from 'express-async-api';`));
      writeFileSync(join(bare, 'cjs.cjs'), program(`const express = require('express');\nconst { createAsyncApi, TaskNotFoundError } = require('express-async-api');`));
      for (const file of ['esm.mjs', 'cjs.cjs']) {
        expect(execFileSync(process.execPath, [file], { cwd: bare, encoding: 'utf8' }).trim()).toBe('202 {"answer":42} function');
      }
      const cli = join(modules, 'express-async-api', 'dist', 'cli.js');
      const worker = spawnSync(process.execPath, [cli, 'worker', '--queue', 'q', '--metrics-port', '9100'], { cwd: bare, encoding: 'utf8' });
      expect(worker.status).toBe(1);
      expect(worker.stderr).toBe('express-async-api: --metrics-port serves metrics from prom-client, which is not installed here: npm install prom-client\n');
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });

  it('has the express-async-api command', () => {
    const bin = JSON.parse(readFileSync(join(consumer, 'node_modules', 'express-async-api', 'package.json'), 'utf8')).bin['express-async-api'];
    const cli = join(consumer, 'node_modules', 'express-async-api', bin);
    expect(readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    expect(execFileSync(process.execPath, [cli, '--help'], { cwd: consumer, encoding: 'utf8' })).toMatch(/^Usage: express-async-api worker/);
  });

  it('explains its command without bullmq, and names what a worker needs', () => {
    // A project with the package and its own dependencies, and no bullmq, ioredis or express.
    const bare = mkdtempSync(join(tmpdir(), 'no-bullmq-'));
    try {
      const modules = join(bare, 'node_modules');
      mkdirSync(modules);
      cpSync(join(consumer, 'node_modules', 'express-async-api'), join(modules, 'express-async-api'), { recursive: true });
      const manifest = JSON.parse(readFileSync(join(modules, 'express-async-api', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
      for (const name of Object.keys(manifest.dependencies)) symlinkSync(join(root, 'node_modules', name), join(modules, name), 'dir');
      const cli = join(modules, 'express-async-api', 'dist', 'cli.js');

      const help = spawnSync(process.execPath, [cli, '--help'], { cwd: bare, encoding: 'utf8' });
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/^Usage: express-async-api worker/);

      const worker = spawnSync(process.execPath, [cli, 'worker', '--queue', 'q'], { cwd: bare, encoding: 'utf8' });
      expect(worker.status).toBe(1);
      expect(worker.stderr).toBe('express-async-api: the worker runs on BullMQ, and bullmq is not installed here: npm install bullmq ioredis\n');
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});

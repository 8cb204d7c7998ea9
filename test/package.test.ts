import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

// A consumer inside the repository, so its imports of express and of the package's
// dependencies resolve from the repository's node_modules, as they would from its own.
let consumer: string;
let files: string[];

beforeAll(() => {
  consumer = mkdtempSync(join(root, 'test', '.pack-'));
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', consumer], { cwd: root, encoding: 'utf8' }),
  ) as [{ filename: string; files: { path: string }[] }];
  files = packed.files.map((file) => file.path).sort();
  const installed = join(consumer, 'node_modules', 'express-async-api');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', join(consumer, packed.filename), '-C', installed, '--strip-components=1']);
}, 60_000);

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
    expect(files).toContain('dist/cli.js');
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

  it('has the express-async-api command', () => {
    const bin = JSON.parse(readFileSync(join(consumer, 'node_modules', 'express-async-api', 'package.json'), 'utf8')).bin['express-async-api'];
    const cli = join(consumer, 'node_modules', 'express-async-api', bin);
    expect(readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    expect(execFileSync(process.execPath, [cli, '--help'], { cwd: consumer, encoding: 'utf8' })).toMatch(/^Usage: express-async-api worker/);
  });

  it('has types for import and for require', () => {
    const typed = `import type { TaskRequest } from 'express-async-api';
import type { WaitForTaskOptions } from 'express-async-api/client';
const options: WaitForTaskOptions = { wait: 5 };
export { options };
const handler = (req: TaskRequest) => { req.task.progress(0.5); return req.task.id; };
export { handler };
`;
    writeFileSync(join(consumer, 'typed.mts'), `import { createAsyncApi } from 'express-async-api';\nconst tasks = createAsyncApi({ ttl: 1000 });\nvoid tasks.close();\n${typed}`);
    writeFileSync(join(consumer, 'typed.cts'), `import api = require('express-async-api');\nconst tasks = api.createAsyncApi({ ttl: 1000 });\nvoid tasks.close();\n${typed}`);
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--skipLibCheck', 'false'];
    execFileSync(process.execPath, [tsc, ...args, 'typed.mts', 'typed.cts'], { cwd: consumer, encoding: 'utf8' });
  });
});

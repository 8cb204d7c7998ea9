import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // The main entry and express-async-api/bullmq (only those who scale out load bullmq
    // and ioredis), for `import` and for `require`. Built together and split into shared
    // chunks, so that both entries use one copy of the code: an error class from one is
    // the error class of the other.
    // express-async-api/metrics likewise: only those who want metrics load prom-client.
    entry: { index: 'src/index.ts', bullmq: 'src/distributed/index.ts', metrics: 'src/metrics/index.ts' },
    format: ['esm', 'cjs'],
    target: 'node20',
    dts: true,
    sourcemap: true,
    splitting: true,
    // Gives the CommonJS build an import.meta.url, which locates the thread entry.
    shims: true,
  },
  {
    // The command line: npx express-async-api worker …
    entry: { cli: 'src/cli.ts' },
    format: ['esm'],
    target: 'node20',
    sourcemap: true,
    banner: { js: '#!/usr/bin/env node' },
    // The package's own entry, so that the worker shares its code (and bullmq is loaded
    // only for a worker, not for --help).
    external: ['express-async-api/bullmq', 'express-async-api/metrics'],
  },
  {
    // express-async-api/client: for browsers as well as Node, so nothing of Node in it.
    entry: { client: 'src/client/index.ts' },
    format: ['esm', 'cjs'],
    target: 'es2022',
    platform: 'neutral',
    dts: true,
    sourcemap: true,
  },
  {
    // Runs inside worker threads only, loaded by URL from either build: one ES module.
    entry: { 'thread-entry': 'src/executors/thread-entry.ts' },
    format: ['esm'],
    target: 'node20',
    sourcemap: true,
  },
  {
    // The dashboard's page (src/dashboard/page), served by tasks.dashboard() from the
    // package's own files: one script and one stylesheet, with preact, htm and uPlot
    // bundled in (dev dependencies: nothing of them at run time in Node). An IIFE, so the
    // page loads it with a plain <script defer>, under a CSP without inline script.
    entry: { 'dashboard/dashboard': 'src/dashboard/page/main.ts' },
    format: ['iife'],
    platform: 'browser',
    target: 'es2020',
    minify: true,
    noExternal: ['preact', 'htm', 'uplot'],
    // dashboard.js rather than tsup's dashboard.global.js; esbuild writes the CSS that the
    // script imports beside it as dashboard.css.
    outExtension: () => ({ js: '.js' }),
  },
]);

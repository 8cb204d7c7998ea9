import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // The public entry points, for `import` and for `require`.
    entry: { index: 'src/index.ts' },
    format: ['esm', 'cjs'],
    target: 'node20',
    dts: true,
    sourcemap: true,
    // Gives the CommonJS build an import.meta.url, which locates the thread entry.
    shims: true,
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
]);

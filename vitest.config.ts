import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests of the public API import the package by name and so exercise the
    // built files in dist/ (`npm test` builds first), as a user would.
    alias: [
      {
        find: /^express-async-api$/,
        replacement: fileURLToPath(new URL('./dist/index.js', import.meta.url)),
      },
      {
        find: /^express-async-api\/bullmq$/,
        replacement: fileURLToPath(new URL('./dist/bullmq.js', import.meta.url)),
      },
      {
        find: /^express-async-api\/metrics$/,
        replacement: fileURLToPath(new URL('./dist/metrics.js', import.meta.url)),
      },
      {
        find: /^express-async-api\/client$/,
        replacement: fileURLToPath(new URL('./dist/client.js', import.meta.url)),
      },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
  },
});

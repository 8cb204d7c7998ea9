// The builds of the library a benchmark runs: this checkout's, and the earlier releases named by
// the environment, each the directory of a built checkout (its dist/), as bench/before.sh makes:
//   BENCH_BEFORE          the release before this work, measured beside this build in each row
//   BENCH_BEFORE_METRICS  the release before metrics and traces, the anchor of the row of
//                         submits where prom-client and @opentelemetry/api are not installed
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** This checkout: the build `npm run build` made. */
export const here = fileURLToPath(new URL('..', import.meta.url));

function fromEnvironment(name) {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  const dir = resolve(value);
  if (!existsSync(join(dir, 'dist', 'index.js'))) {
    throw new Error(`${name}=${value} has no dist/index.js: make a built checkout with \`bash bench/before.sh <commit>\` and give its directory`);
  }
  return dir;
}

export const before = fromEnvironment('BENCH_BEFORE');
export const beforeMetrics = fromEnvironment('BENCH_BEFORE_METRICS');

/** The module `entry` (index.js, metrics.js, …) of the build in `dir`. */
export function library(dir = here, entry = 'index.js') {
  return import(pathToFileURL(join(dir, 'dist', entry)).href);
}

/** How a table names the build in `dir`: its commit, when bench/before.sh made it. */
export function nameOf(dir) {
  const marker = join(dir, '.bench-before');
  return existsSync(marker) ? readFileSync(marker, 'utf8').trim().slice(0, 7) : dir;
}

// Load generation for the benchmarks. wrk (Debian: apt-get install -y wrk) when it is
// installed: a C client leaves the server, not the client, as the bottleneck on a
// small machine. autocannon otherwise, whose Node client may be the bottleneck; the
// table says which one measured.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';

const run = promisify(execFile);

async function hasWrk() {
  try {
    await run('wrk', ['--version']);
    return true;
  } catch (error) {
    // wrk prints its version and exits 1; only a missing binary is an error.
    return error.code !== 'ENOENT';
  }
}

export const client = (await hasWrk()) ? 'wrk' : 'autocannon';

const scripts = mkdtempSync(join(tmpdir(), 'bench-'));
const postScript = join(scripts, 'post.lua');
writeFileSync(postScript, 'wrk.method = "POST"\n');

/** Requests per second of `method url` over `seconds`, with `connections` open. */
export async function load(url, { method = 'GET', seconds = 3, connections = 32 } = {}) {
  if (client === 'wrk') {
    const args = ['-t1', `-c${connections}`, `-d${seconds}s`, ...(method === 'POST' ? ['-s', postScript] : []), url];
    const { stdout } = await run('wrk', args);
    if (/Non-2xx/.test(stdout) || /Socket errors/.test(stdout)) throw new Error(`${method} ${url}: ${stdout}`);
    return Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]);
  }
  const result = await autocannon({ url, method, connections, duration: seconds });
  if (result.errors || result.non2xx) throw new Error(`${method} ${url}: ${result.errors} errors, ${result.non2xx} non-2xx`);
  return result.requests.average;
}

/** Sends `count` requests, `connections` at a time. */
export async function send(url, { method = 'GET', count, connections = 32 }) {
  await autocannon({ url, method, connections, amount: count });
}

/** The middle value; of an even count, the mean of the two middle ones. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const half = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2;
}

/**
 * Loads each of `targets` (name → URL, or `{ url, cpu }` where `cpu` answers the server's
 * `{ cpu, submitted }`: CPU time in µs and tasks run) for `seconds` in turn, `rounds` times,
 * so that all see the same drift of a shared machine; each round starts one target further
 * on, so that none always runs first. Returns each round's figures by name: requests per
 * second, and with `cpu` the server's CPU time per task over the same load.
 */
export async function alternate(targets, { rounds, seconds, method }) {
  const entries = Object.entries(targets).map(([name, target]) => [name, typeof target === 'string' ? { url: target } : target]);
  for (const [, { url }] of entries) await load(url, { method, seconds: 1 });
  const cpuOf = async (target) => (target.cpu === undefined ? undefined : (await fetch(target.cpu)).json());
  const result = [];
  for (let round = 0; round < rounds; round++) {
    const row = {};
    for (let i = 0; i < entries.length; i++) {
      const [name, target] = entries[(round + i) % entries.length];
      const before = await cpuOf(target);
      const rate = await load(target.url, { method, seconds });
      const after = await cpuOf(target);
      row[name] = { rate, cpu: before && (after.cpu - before.cpu) / (after.submitted - before.submitted) };
    }
    result.push(row);
  }
  return result;
}

/**
 * `b` against `a` over the rounds of `alternate`: median requests per second of each, the
 * median of the rounds' b/a (`ratio`), its lowest and highest; with CPU figures, the median
 * CPU per task of each and the median of the rounds' a/b (so that, as `ratio`, above 1 is
 * better for `b`).
 */
export function versus(rounds, a, b) {
  const span = (values) => ({ median: median(values), low: Math.min(...values), high: Math.max(...values) });
  const ratios = span(rounds.map((row) => row[b].rate / row[a].rate));
  const result = { a: median(rounds.map((row) => row[a].rate)), b: median(rounds.map((row) => row[b].rate)), ratio: ratios.median, low: ratios.low, high: ratios.high };
  if (rounds[0][a].cpu === undefined || rounds[0][b].cpu === undefined) return result;
  const cpuRatios = span(rounds.map((row) => row[a].cpu / row[b].cpu));
  return {
    ...result,
    cpuA: median(rounds.map((row) => row[a].cpu)),
    cpuB: median(rounds.map((row) => row[b].cpu)),
    cpuRatio: cpuRatios.median,
    cpuLow: cpuRatios.low,
    cpuHigh: cpuRatios.high,
  };
}

/** `b` against `a` in alternating rounds (see `alternate` and `versus`). */
export async function compare(a, b, options) {
  return versus(await alternate({ a, b }, options), 'a', 'b');
}

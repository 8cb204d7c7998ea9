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

export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * Measures `a` against `b` in alternating rounds, so both see the same drift of a shared
 * machine; the ratio is the median of each round's b/a.
 */
export async function compare(a, b, { rounds, seconds, method }) {
  await load(a, { method, seconds: 1 });
  await load(b, { method, seconds: 1 });
  const result = { a: [], b: [], ratios: [] };
  for (let round = 0; round < rounds; round++) {
    const x = await load(a, { method, seconds });
    const y = await load(b, { method, seconds });
    result.a.push(x);
    result.b.push(y);
    result.ratios.push(y / x);
  }
  return { a: median(result.a), b: median(result.b), ratio: median(result.ratios) };
}

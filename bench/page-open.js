// Submits with a dashboard page open, for bench/core.js and bench/dashboard.js: an inline
// route's submits (bench/server.js `submit-dashboard`: tasks.dashboard() mounted, and a client
// reading /admin/tasks/api/events as the page does) against the same route with neither
// (`submit`). Two server processes per build, since what the open page costs (its stream's
// writes) is paid by the whole process, not by one route; loaded in alternating rounds
// (bench/load.js), with the server's CPU per submit over each round.
import { request } from 'node:http';
import { startServer } from './fork.js';
import { alternate, versus } from './load.js';

/** Opens the dashboard's event stream as its page does, and reads (and drops) what comes. */
function openEvents(url) {
  const stream = { events: 0, bytes: 0 };
  const opened = new Promise((resolve, reject) => {
    stream.request = request(url, { agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET ${url} answered ${res.statusCode}`));
      res.on('data', (chunk) => {
        stream.bytes += chunk.length;
        for (let at = chunk.indexOf('event: tasks'); at !== -1; at = chunk.indexOf('event: tasks', at + 1)) stream.events++;
      });
      res.on('error', () => {});
      resolve();
    });
    stream.request.on('error', reject).end();
  });
  return { stream, opened };
}

/**
 * Submit throughput with a dashboard page open against none, for each of `builds` (name →
 * built checkout, bench/builds.js), all in the same alternating rounds. Resolves by name with
 * `versus`'s figures (`a` without, `b` with) and what the open page received.
 */
export async function pageOpenSubmit(builds, { rounds, seconds }) {
  const servers = [];
  const streams = [];
  try {
    const targets = {};
    for (const [name, dir] of Object.entries(builds)) {
      for (const mode of ['submit', 'submit-dashboard']) {
        const server = await startServer('./server.js', [mode, dir]);
        servers.push(server);
        targets[`${name} ${mode}`] = { url: `${server.base}/wrapped`, cpu: `${server.base}/__bench/cpu` };
        if (mode === 'submit-dashboard') {
          const events = openEvents(`${server.base}/admin/tasks/api/events`);
          streams.push([name, events]);
          await events.opened;
        }
      }
    }
    const result = await alternate(targets, { rounds, seconds, method: 'POST' });
    // The last batches of the stream, sent after the load.
    await new Promise((resolve) => setTimeout(resolve, 200));
    return Object.fromEntries(
      streams.map(([name, { stream }]) => [name, { ...versus(result, `${name} submit`, `${name} submit-dashboard`), events: stream.events, eventBytes: stream.bytes }]),
    );
  } finally {
    for (const [, { stream }] of streams) stream.request.destroy();
    await Promise.all(servers.map((server) => server.stop()));
  }
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const verdict = (ok) => (ok ? 'met' : '**not met**');
const span = (ratio, low, high) => `${ratio.toFixed(2)}× (rounds: ${low.toFixed(2)}× to ${high.toFixed(2)}×)`;

/** `pageOpenSubmit`'s results as a Markdown table, each build under its name in `labels`. */
export function pageOpenTable(results, labels) {
  const lines = [
    '| submit of an inline route | without the dashboard | dashboard mounted, a page on /api/events | ratio (median of rounds) | target: ≥ 0.95× |',
    '|---|---:|---:|---:|---|',
  ];
  const notes = [];
  for (const [name, t] of Object.entries(results)) {
    lines.push(`| ${labels[name]}: POST /wrapped, req/s | ${fmt(t.a)} | ${fmt(t.b)} | ${span(t.ratio, t.low, t.high)} | ${verdict(t.ratio >= 0.95)} |`);
    lines.push(`| ${labels[name]}: the server's CPU per submit (its inverse ratio) | ${fmt(t.cpuA)} µs | ${fmt(t.cpuB)} µs | ${span(t.cpuRatio, t.cpuLow, t.cpuHigh)} | ${verdict(t.cpuRatio >= 0.95)} |`);
    notes.push(`${labels[name]}: ${fmt(t.events)} batches of task changes (${(t.eventBytes / 1e6).toFixed(1)} MB)`);
  }
  return `${lines.join('\n')}\n\nThe open page received, ${notes.join('; ')}.`;
}

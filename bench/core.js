// Benchmarks of the one-process hot path, printed as Markdown tables, each figure beside its
// target, its anchor and the release before, all measured in the same run:
//   npm run bench
//   BENCH_BEFORE=$(bash bench/before.sh 4f10ba3) BENCH_BEFORE_METRICS=$(bash bench/before.sh cf089a1) npm run bench
// BENCH_BEFORE is a built checkout of the release before (bench/before.sh makes one outside the
// repository): its figures are measured beside this build's, in the same rounds and the same
// server process where a row loads one. BENCH_BEFORE_METRICS is one of the release before
// metrics and traces, the anchor of the `peers` row. Without them those columns say "not run".
// BENCH_ROUNDS, BENCH_SECONDS: the alternating rounds of the throughput rows (10 of 3 s).
// BENCH_ONLY=<rows, comma-separated> runs those rows alone; by default every row runs:
//   submit   a wrapped route vs a plain Express route answering 202, one server process; the
//            release before's wrapped route and a hand-written async route (a Map,
//            randomUUID(), a 202, the handler run on a later turn and its value kept 2 s: the
//            reference) in the same rounds
//   read     the monitor read of a finished task vs a plain GET answering the same JSON
//   heap     heap per finished task with a small JSON reply, no dashboard and one mounted,
//            100,000 tasks in a fresh process each, this build and the release before
//   janitor  a sweep with nothing expired, and a full purge with the event loop's longest
//            stall, 100,000 and 1,000,000 tasks held, and 1,000,000 with a dashboard's
//            indexes; a fresh process each, this build and the release before
//   metrics  submit with asyncApiMetrics() and tracing (an OpenTelemetry SDK, spans dropped
//            by its exporter) vs neither, one server process, both builds in the same rounds
//   peers    submit where prom-client and @opentelemetry/api are not installed: this build
//            and the release before vs BENCH_BEFORE_METRICS, one server process
//   events   submit with tasks.dashboard() mounted and a page open on /api/events vs
//            neither, two server processes per build (bench/page-open.js), in the same rounds
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { before, beforeMetrics, here, nameOf } from './builds.js';
import { startServer } from './fork.js';
import { heapPerTask } from './heap.js';
import { alternate, client, versus } from './load.js';
import { pageOpenSubmit, pageOpenTable } from './page-open.js';

const run = promisify(execFile);

const ROWS = ['submit', 'read', 'heap', 'janitor', 'metrics', 'peers', 'events'];
const only = process.env.BENCH_ONLY?.split(',').map((row) => row.trim());
const unknown = only?.filter((row) => !ROWS.includes(row));
if (unknown?.length) throw new Error(`BENCH_ONLY: unknown row ${unknown.join(', ')}; the rows are ${ROWS.join(', ')}`);
const runs = (row) => only === undefined || only.includes(row);
const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const options = { rounds, seconds };
const log = (line) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

// The builds a row measures: this one, and the release before when BENCH_BEFORE names it.
const builds = { here, ...(before === undefined ? {} : { before }) };
const labels = { here: 'this build', before: before === undefined ? 'the release before' : `the release before (${nameOf(before)})` };

// The submit and the monitor read: every route in one server process.
async function throughput() {
  const { base, stop } = await startServer('./server.js', ['throughput']);
  try {
    const result = {};
    if (runs('submit')) {
      log(`submit: ${rounds} alternating rounds of ${seconds} s`);
      const targets = { plain: `${base}/plain`, here: `${base}/wrapped`, ...(before && { before: `${base}/before` }), handWritten: `${base}/hand-written` };
      result.submit = await alternate(targets, { ...options, method: 'POST' });
    }
    if (runs('read')) {
      log(`monitor read: ${rounds} alternating rounds of ${seconds} s`);
      const targets = { plain: `${base}/plain` };
      for (const [name, prefix] of [['here', ''], ...(before ? [['before', '/before']] : [])]) {
        const accepted = await fetch(`${base}${prefix}/kept`, { method: 'POST' });
        targets[name] = base + accepted.headers.get('location');
        for (let polls = 0; (await fetch(targets[name])).status === 202; polls++) {
          if (polls > 1_000) throw new Error('the task did not finish');
        }
      }
      result.read = await alternate(targets, { ...options, method: 'GET' });
    }
    return result;
  } finally {
    await stop();
  }
}

async function heap() {
  const result = {};
  for (const [name, dir] of Object.entries(builds)) {
    for (const mode of ['heap', 'heap-dashboard']) {
      log(`heap: ${mode}, ${labels[name]}`);
      result[`${name} ${mode}`] = await heapPerTask(mode, 100_000, dir);
    }
  }
  return result;
}

// The janitor at one size, in a fresh process so no other heap's garbage is collected meanwhile.
async function janitor() {
  const result = {};
  for (const [name, dir] of Object.entries(builds)) {
    for (const [size, dashboard] of [[100_000], [1_000_000], [1_000_000, 'dashboard']]) {
      log(`janitor: ${size.toLocaleString('en-US')} tasks${dashboard ? ", a dashboard's indexes" : ''}, ${labels[name]}`);
      const script = fileURLToPath(new URL('./janitor.js', import.meta.url));
      const { stdout } = await run(process.execPath, ['--expose-gc', script, String(size), dir, ...(dashboard ? [dashboard] : [])], { maxBuffer: 1 << 20 });
      result[`${name} ${size}${dashboard ? ' dashboard' : ''}`] = JSON.parse(stdout);
    }
  }
  return result;
}

async function metrics() {
  const { base, stop } = await startServer('./observe-server.js', ['observed']);
  try {
    log(`metrics and tracing: ${rounds} alternating rounds of ${seconds} s`);
    const targets = { here: `${base}/neither`, hereObserved: `${base}/observed` };
    if (before) Object.assign(targets, { before: `${base}/before-neither`, beforeObserved: `${base}/before-observed` });
    return await alternate(targets, { ...options, method: 'POST' });
  } finally {
    await stop();
  }
}

async function peers() {
  if (beforeMetrics === undefined) return undefined;
  const hide = fileURLToPath(new URL('./hide-peers.cjs', import.meta.url));
  const { base, stop } = await startServer('./observe-server.js', ['absent'], ['--require', hide]);
  try {
    log(`peers not installed: ${rounds} alternating rounds of ${seconds} s`);
    const targets = { baseline: `${base}/baseline`, here: `${base}/wrapped`, ...(before && { before: `${base}/before` }) };
    return await alternate(targets, { ...options, method: 'POST' });
  } finally {
    await stop();
  }
}

async function events() {
  log(`a dashboard page open: ${rounds} alternating rounds of ${seconds} s, ${Object.keys(builds).length * 2} server processes`);
  return pageOpenSubmit(builds, options);
}

const loads = [loadavg()[0]];
const started = performance.now();
const results = {};
if (runs('submit') || runs('read')) Object.assign(results, await throughput());
if (runs('metrics')) results.metrics = await metrics();
if (runs('peers')) results.peers = await peers();
if (runs('events')) results.events = await events();
if (runs('heap')) results.heap = await heap();
if (runs('janitor')) results.janitor = await janitor();
loads.push(loadavg()[0]);

// ---- Print ----

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const verdict = (ok) => (ok ? 'met' : '**not met**');
const ratio = (r) => `${r.ratio.toFixed(2)}× (rounds: ${r.low.toFixed(2)}× to ${r.high.toFixed(2)}×)`;
const notRun = (variable) => `not run: set ${variable}`;
// A Markdown table: the first column and the last (the target) are text, the others figures.
const table = (head, rows) => console.log(`${[head, `|---${'|---:'.repeat(head.split('|').length - 4)}|---|`, ...rows].join('\n')}\n`);

console.log(
  `\nnode ${process.version}, ${new Date().toISOString().slice(0, 10)}; ${client}, ${rounds} alternating rounds of ${seconds} s, 32 connections, tasks kept 2 s; ` +
    `load average ${loads[0].toFixed(1)} at the start, ${loads[1].toFixed(1)} at the end; ${((performance.now() - started) / 60_000).toFixed(1)} min in all\n`,
);
console.log(`This build: ${here}. The release before: ${before === undefined ? notRun('BENCH_BEFORE') : `${nameOf(before)} (${before})`}. The release before metrics and traces: ${beforeMetrics === undefined ? notRun('BENCH_BEFORE_METRICS') : `${nameOf(beforeMetrics)} (${beforeMetrics})`}.\n`);

if (results.submit) {
  const vs = (name) => versus(results.submit, 'plain', name);
  const rows = [`| plain Express route answering 202 (the anchor) | ${fmt(vs('here').a)} | | |`];
  rows.push(`| wrapped by this build | ${fmt(vs('here').b)} | ${ratio(vs('here'))} | ≥ 0.95× (${verdict(vs('here').ratio >= 0.95)}) |`);
  rows.push(before ? `| wrapped by ${labels.before} | ${fmt(vs('before').b)} | ${ratio(vs('before'))} | |` : `| wrapped by the release before | | ${notRun('BENCH_BEFORE')} | |`);
  rows.push(`| hand-written async route: a Map, randomUUID(), a 202, the handler on a later turn (the reference) | ${fmt(vs('handWritten').b)} | ${ratio(vs('handWritten'))} | |`);
  table('| submit, one server process | req/s (median of rounds) | ratio to the plain route (median of rounds) | target |', rows);
}

if (results.read) {
  const vs = (name) => versus(results.read, 'plain', name);
  const rows = [`| plain GET answering the same JSON (the anchor) | ${fmt(vs('here').a)} | | |`];
  rows.push(`| this build | ${fmt(vs('here').b)} | ${ratio(vs('here'))} | |`);
  rows.push(before ? `| ${labels.before} | ${fmt(vs('before').b)} | ${ratio(vs('before'))} | |` : `| the release before | | ${notRun('BENCH_BEFORE')} | |`);
  table('| monitor read of a finished task, one server process | req/s (median of rounds) | ratio to the plain GET (median of rounds) | target |', rows);
}

if (results.metrics) {
  const rows = [];
  for (const name of ['here', 'before']) {
    if (name === 'before' && !before) {
      rows.push(`| the release before | | | ${notRun('BENCH_BEFORE')} | |`);
      continue;
    }
    const r = versus(results.metrics, name, `${name}Observed`);
    rows.push(`| ${labels[name]} | ${fmt(r.a)} | ${fmt(r.b)} | ${ratio(r)} | ${name === 'here' ? `≥ 0.9× (${verdict(r.ratio >= 0.9)})` : ''} |`);
  }
  table('| submit, req/s: `asyncApiMetrics()` and tracing (an SDK, spans dropped) vs neither (`tracing: false`), one server process | neither | metrics and tracing | ratio (median of rounds) | target |', rows);
}

if (runs('peers')) {
  const head = `| submit, req/s: prom-client and @opentelemetry/api not installed, one server process | the release before them (${beforeMetrics ? nameOf(beforeMetrics) : 'BENCH_BEFORE_METRICS'}) | this build | ratio (median of rounds) | target |`;
  if (!results.peers) table(head, [`| this build vs the release before metrics and traces | | | ${notRun('BENCH_BEFORE_METRICS')} | ≥ 0.99× |`]);
  else {
    const now = versus(results.peers, 'baseline', 'here');
    const rows = [`| this build | ${fmt(now.a)} | ${fmt(now.b)} | ${ratio(now)} | ≥ 0.99× (${verdict(now.ratio >= 0.99)}) |`];
    if (before) {
      const then = versus(results.peers, 'baseline', 'before');
      rows.push(`| ${labels.before}, in the same rounds | ${fmt(then.a)} | ${fmt(then.b)} | ${ratio(then)} | |`);
    } else rows.push(`| the release before | | | ${notRun('BENCH_BEFORE')} | |`);
    table(head, rows);
  }
}

if (results.events) {
  console.log(`${pageOpenTable(results.events, labels)}${before ? '' : ` (The release before: ${notRun('BENCH_BEFORE')}.)`}\n`);
}

if (results.heap) {
  const cell = (name, mode) => (results.heap[`${name} ${mode}`] === undefined ? notRun('BENCH_BEFORE') : `${fmt(results.heap[`${name} ${mode}`])} B`);
  table('| heap per finished task, small JSON reply (100,000 tasks, a fresh process each) | this build | the release before | target |', [
    `| no dashboard mounted | ${cell('here', 'heap')} | ${cell('before', 'heap')} | ≤ 400 B (${verdict(results.heap['here heap'] <= 400)}) |`,
    `| a dashboard mounted | ${cell('here', 'heap-dashboard')} | ${cell('before', 'heap-dashboard')} | ≤ 600 B (${verdict(results.heap['here heap-dashboard'] <= 600)}) |`,
  ]);
}

if (results.janitor) {
  const j = (name, key) => results.janitor[`${name} ${key}`];
  const sweep = (name, size) => (j(name, size) ? `${(j(name, size).idleSweepNs / 1000).toFixed(2)} µs` : notRun('BENCH_BEFORE'));
  const purge = (name, key) => (j(name, key) ? `${fmt(j(name, key).purge)} ms, ${j(name, key).stall.toFixed(1)} ms` : notRun('BENCH_BEFORE'));
  const million = j('here', 1_000_000);
  table('| janitor, tasks as a submit of POST /wrapped leaves them (a fresh process each) | this build | the release before | target |', [
    `| sweep with nothing expired, 100,000 held | ${sweep('here', 100_000)} | ${sweep('before', 100_000)} | O(1) |`,
    `| sweep with nothing expired, 1,000,000 held | ${sweep('here', 1_000_000)} | ${sweep('before', 1_000_000)} | O(1) |`,
    `| full purge of 100,000: total, longest event-loop stall | ${purge('here', 100_000)} | ${purge('before', 100_000)} | stall ≤ 20 ms (${verdict(j('here', 100_000).stall <= 20)}) |`,
    `| full purge of 1,000,000: total, longest event-loop stall | ${purge('here', 1_000_000)} | ${purge('before', 1_000_000)} | ≤ 1.5 s, stall ≤ 20 ms (${verdict(million.purge <= 1_500 && million.stall <= 20)}) |`,
    `| full purge of 1,000,000 with a dashboard's indexes (a list() before the tasks came) | ${purge('here', '1000000 dashboard')} | ${purge('before', '1000000 dashboard')} | stall ≤ 20 ms (${verdict(j('here', '1000000 dashboard').stall <= 20)}) |`,
  ]);
}

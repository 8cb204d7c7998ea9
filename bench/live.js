// Live status (issue: live status): the time from a task's end to its client knowing it,
//   npm run bench:live
// for a client polling at Retry-After: 1, a long-poll (Prefer: wait=30), and Server-Sent
// Events. 40 tasks per way, of 200 to 1200 ms, 8 at a time; the task's handler stamps its
// end, the client stamps when it knows (one machine, one clock).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

const count = 40;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const server = fork(fileURLToPath(new URL('./live-server.js', import.meta.url)));
const [{ port }] = await once(server, 'message');
const base = `http://127.0.0.1:${port}`;

async function submit(ms) {
  const response = await fetch(`${base}/task?ms=${ms}`, { method: 'POST' });
  return base + response.headers.get('location');
}

// Each returns when the client learned of the end, and the handler's stamp of it.
const ways = {
  async polling(monitor) {
    for (let polls = 0; polls < 1_000; polls++) {
      const response = await fetch(monitor);
      if (response.status !== 202) return { knownAt: now(), endedAt: (await response.json()).endedAt };
      await response.arrayBuffer();
      await sleep(Number(response.headers.get('retry-after')) * 1000);
    }
    throw new Error('never finished');
  },
  async 'long-poll'(monitor) {
    for (let polls = 0; polls < 1_000; polls++) {
      const response = await fetch(monitor, { headers: { Prefer: 'wait=30' } });
      if (response.status !== 202) return { knownAt: now(), endedAt: (await response.json()).endedAt };
      await response.arrayBuffer();
    }
    throw new Error('never finished');
  },
  sse(monitor) {
    return new Promise((resolve, reject) => {
      const req = request(monitor, { headers: { Accept: 'text/event-stream' } }, (response) => {
        let buffer = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          buffer += chunk;
          const done = /event: done\ndata: (.*)\n\n/.exec(buffer);
          if (done) {
            const knownAt = now();
            req.destroy();
            resolve({ knownAt, endedAt: JSON.parse(JSON.parse(done[1]).reply.body).endedAt });
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
  },
};

async function measure(way) {
  const delays = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const monitor = await submit(200 + Math.floor(Math.random() * 1000));
      const { knownAt, endedAt } = await ways[way](monitor);
      delays.push(knownAt - endedAt);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  delays.sort((a, b) => a - b);
  return { p50: delays[Math.floor(delays.length / 2)], p90: delays[Math.floor(delays.length * 0.9)] };
}

const results = {};
try {
  for (const way of Object.keys(ways)) results[way] = await measure(way);
} finally {
  server.send('exit');
  await once(server, 'exit');
}
console.log(`\nnode ${process.version}, ${count} tasks of 200 to 1200 ms per way, 8 at a time\n`);
console.log('| from a task\'s end to its client knowing it | median | p90 | target |');
console.log('|---|---:|---:|---|');
console.log(`| polling, Retry-After: 1 | ${results.polling.p50.toFixed(1)} ms | ${results.polling.p90.toFixed(1)} ms | |`);
console.log(`| long-poll, Prefer: wait=30 | ${results['long-poll'].p50.toFixed(1)} ms | ${results['long-poll'].p90.toFixed(1)} ms | ≤ 5 ms median |`);
console.log(`| Server-Sent Events | ${results.sse.p50.toFixed(1)} ms | ${results.sse.p90.toFixed(1)} ms | ≤ 5 ms median |`);

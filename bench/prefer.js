// What one hostile Prefer header costs the server (issue: hardening, point 2):
//   npm run bench:prefer
// The header is `a`, 15,900 spaces and `"` (under Node's 16 KB header limit), which the
// release's pattern took quadratic time over. Sent to the monitor of a finished task, one at a
// time: the time to the answer, median of 20, next to an ordinary `Prefer: wait=0`; then the
// latency of `GET /health` sent while four hostile requests are in flight. The server is a
// process of its own.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';

const hostile = `a${' '.repeat(15_900)}"`;

if (process.argv[2] === 'serve') {
  const { default: express } = await import('express');
  const { createAsyncApi } = await import('../dist/index.js');
  const tasks = createAsyncApi({ onError: () => {} });
  const app = express();
  app.get('/health', (_req, res) => res.send('ok'));
  app.post('/done', tasks.asyncApi(() => ({ done: true })));
  app.use(tasks.router);
  const server = app.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', () => {
    server.close();
    void tasks.close().then(() => process.exit(0));
  });
} else {
  const server = fork(fileURLToPath(import.meta.url), ['serve']);
  const [{ port }] = await once(server, 'message');
  const base = `http://127.0.0.1:${port}`;
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });

  const send = (path, { method = 'GET', headers = {} } = {}) =>
    new Promise((resolve, reject) => {
      const started = process.hrtime.bigint();
      const sent = request(`${base}${path}`, { method, agent, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode, body, headers: res.headers, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
      });
      sent.on('error', reject);
      sent.end();
    });
  const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

  // A finished task: its monitor answers at once, whatever the wait asked for.
  const accepted = await send('/done', { method: 'POST' });
  const { location } = accepted.headers;
  if ((await send(location, { headers: { Prefer: 'wait=5' } })).status !== 200) throw new Error('the task did not finish');

  const times = async (headers) => {
    const all = [];
    for (let i = 0; i < 20; i++) {
      const answer = await send(location, { headers });
      if (answer.status !== 200) throw new Error(`the monitor answered ${answer.status}`);
      all.push(answer.ms);
    }
    return median(all);
  };
  const ordinary = await times({ Prefer: 'wait=0' });
  const attacked = await times({ Prefer: hostile });

  const health = [];
  for (let round = 0; round < 5; round++) {
    const attacks = Array.from({ length: 4 }, () => send(location, { headers: { Prefer: hostile } }));
    health.push((await send('/health')).ms);
    await Promise.all(attacks);
  }

  server.send('exit');
  await once(server, 'exit');
  agent.destroy();
  console.log(`node ${process.version}\n`);
  console.log('| a monitor read of a finished task | median of 20 |');
  console.log('|---|---:|');
  console.log(`| with \`Prefer: wait=0\` | ${ordinary.toFixed(2)} ms |`);
  console.log(`| with the hostile \`Prefer\` (16 KB) | ${attacked.toFixed(2)} ms |`);
  console.log(`| \`GET /health\` while 4 hostile requests are in flight (median of 5) | ${median(health).toFixed(2)} ms |`);
}

// The smallest useful app: one slow route made asynchronous with one wrapper.
//   npm run demo            (builds the library, then runs this file)
//   PORT=4000 npm run demo  (another port)
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { createAsyncApi } from 'express-async-api';

const app = express();
app.use(express.json());
const tasks = createAsyncApi();

// An ordinary Express handler. It runs after the client already has its 202.
app.post(
  '/reports',
  tasks.asyncApi(
    async (req, res) => {
      const steps = Math.min(Number(req.query.steps ?? 5), 60);
      for (let step = 1; step <= steps; step++) {
        await sleep(1_000, undefined, { signal: req.task.signal }); // stops at once when canceled
        req.task.progress(step / steps, `step ${step} of ${steps}`);
      }
      res.status(201).json({ report: req.task.id, rows: steps * 100, title: req.body?.title ?? 'untitled' });
    },
    { timeout: 120_000 },
  ),
);

// A handler that fails the way Express handlers fail: the monitor answers a problem document.
app.post(
  '/invalid',
  tasks.asyncApi(async () => {
    throw Object.assign(new Error('The period must end after it starts'), { status: 422 });
  }),
);

app.use(tasks.router); // GET / DELETE /status/:taskId

// Every task, live: search, cancel, run again. Only requests from this machine see it.
app.use('/admin/tasks', tasks.dashboard({ title: 'express-async-api demo' }));

// The browser demo: a page that starts tasks and follows them live with the client helper.
app.use(express.static(fileURLToPath(new URL('../browser/', import.meta.url))));
app.get('/client.js', (_req, res) => res.sendFile(fileURLToPath(new URL('../../dist/client.js', import.meta.url))));

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, (error) => {
  if (error) return; // Express 5 passes it here as well: told below
  const url = `http://localhost:${server.address().port}`;
  console.log(`express-async-api demo listening on ${url}

Open ${url}/ in a browser: buttons start tasks, a table follows them live.
The dashboard of every task is at ${url}/admin/tasks/

Start a report (5 one-second steps); the answer is 202 with a Location:
  curl -i -X POST '${url}/reports?steps=5' -H 'content-type: application/json' -d '{"title":"Q3"}'
Poll the Location it gave (202 with progress until done, then the report itself, 201):
  curl -i ${url}/status/<id>
Or hold the poll until the report is done (up to 30 s):
  curl -i -H 'Prefer: wait=30' ${url}/status/<id>
Or follow it as Server-Sent Events:
  curl -N -H 'Accept: text/event-stream' ${url}/status/<id>
Cancel a running one:
  curl -i -X DELETE ${url}/status/<id>
A failing task (its monitor answers 422 application/problem+json):
  curl -i -X POST ${url}/invalid

Ctrl-C stops the server; running tasks get 10 seconds to finish.`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    server.close();
    await tasks.close();
    process.exit(0);
  });
}

// A port already taken, or not ours to take: one line, and how to pick another.
server.on('error', (error) => {
  const reason = error.code === 'EADDRINUSE' ? 'is in use' : `cannot be listened on (${error.code ?? error.message})`;
  console.error(`Port ${port} ${reason}: start with another, e.g. PORT=${port + 1} npm run demo`);
  process.exit(1);
});

// A refund that waits for a person's approval: durable steps and an outside event.
//   npm run build && node examples/approval/server.js   (PORT=4000 for another port)
import express from 'express';
import { createAsyncApi } from 'express-async-api';

const app = express();
app.use(express.json());
const tasks = createAsyncApi({ ttl: 86_400_000 });

// Stand-ins for a billing service: each call is logged, so you can see a step run once.
const billing = {
  quote: ({ order }) => (console.log(`billing: quote for order ${order}`), { order, amount: 42 }),
  refund: (quote) => (console.log(`billing: refund ${quote.amount} for order ${quote.order}`), { refunded: quote.amount, order: quote.order }),
};

app.post('/refunds', tasks.asyncApi(async (req, res) => {
  // Run once per task, whatever happens after: a retry or a resume gets the kept quote.
  const quote = await req.task.step('quote', () => billing.quote(req.body));
  req.task.progress(0.5, `waiting for approval of ${quote.amount}`);
  // Holds no thread and no slot while it waits; undefined once three days pass.
  const decision = await req.task.waitForEvent('approval', { timeout: 3 * 86_400_000 });
  if (!decision?.approved) return res.status(409).json({ refused: true, order: quote.order });
  res.status(201).json(await req.task.step('refund', () => billing.refund(quote)));
}));
app.use(tasks.router);
app.use('/admin/tasks', tasks.dashboard());

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, (error) => {
  if (error) return; // Express 5 passes it here as well: told below
  const url = `http://localhost:${server.address().port}`;
  console.log(`express-async-api approval example listening on ${url}

Ask for a refund:
  curl -i -X POST ${url}/refunds -H 'content-type: application/json' -d '{"order":7}'
Its monitor says it waits, and where to send the approval (waitingFor.href):
  curl -i ${url}/status/<id>
Approve it (or send {"approved":false}):
  curl -i -X POST ${url}/status/<id>/events/approval -H 'content-type: application/json' -d '{"approved":true}'
Then its answer:
  curl -i ${url}/status/<id>
Every task is on the dashboard: ${url}/admin/tasks/`);
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
  console.error(`Port ${port} ${reason}: start with another, e.g. PORT=${port + 1} node examples/approval/server.js`);
  process.exit(1);
});

// Effects after commit, with PostgreSQL: a log line and an e-mail (a task defined in code)
// that happen only once the transaction that caused them has committed.
//   node examples/effects/server.js        (DATABASE_URL=postgres://… and PORT= to change)
//   curl -i -X POST localhost:3000/froggies/1/jump      → 204, then the log line and the mail
//   curl -i -X POST localhost:3000/froggies/99/jump     → 404, rolled back: neither
import express from 'express';
import pg from 'pg';
import { afterCommit, createAsyncApi } from 'express-async-api';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
await pool.query('CREATE TABLE IF NOT EXISTS froggies (id int PRIMARY KEY, jumping boolean NOT NULL DEFAULT false)');
await pool.query('INSERT INTO froggies (id) VALUES (1), (2), (3) ON CONFLICT DO NOTHING');

const tasks = createAsyncApi();
// The mailer: a task from code, so a slow mail server delays no request.
const mailer = tasks.define('mail-admins', async ({ subject }) => {
  console.log(`mail to admins: ${subject}`);
  return { sent: true };
});

const app = express();
app.post('/froggies/:id/jump', async (req, res, next) => {
  const id = Number(req.params.id);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rowCount } = await client.query('UPDATE froggies SET jumping = true WHERE id = $1', [id]);
    afterCommit(client, () => console.log(`froggy ${id} jumped`));
    afterCommit(client, () => mailer.submit({ subject: `froggy ${id} jumped` }));
    if (rowCount === 0) {
      await client.query('ROLLBACK'); // the effects are dropped
      return res.sendStatus(404);
    }
    await client.query('COMMIT'); // the effects run, in order
    res.sendStatus(204);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    next(error);
  } finally {
    client.release();
  }
});
app.use(tasks.router);

const port = Number(process.env.PORT ?? 3000);
const server = app.listen(port, (error) => {
  if (error) return; // Express 5 passes it here as well: told below
  const url = `http://localhost:${server.address().port}`;
  console.log(`express-async-api effects example listening on ${url}

Make froggy 1 jump (204; then "froggy 1 jumped" and the mail, after the commit):
  curl -i -X POST ${url}/froggies/1/jump
No such froggy (404; rolled back, so neither):
  curl -i -X POST ${url}/froggies/99/jump`);
});

// A port already taken, or not ours to take: one line, and how to pick another.
server.on('error', (error) => {
  const reason = error.code === 'EADDRINUSE' ? 'is in use' : `cannot be listened on (${error.code ?? error.message})`;
  console.error(`Port ${port} ${reason}: start with another, e.g. PORT=${port + 1} node examples/effects/server.js`);
  process.exit(1);
});

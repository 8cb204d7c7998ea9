// Effects after commit, with a real PostgreSQL (127.0.0.1:5432, or PGHOST/PGPORT/PGUSER/
// PGDATABASE): they run in order once the transaction has committed, never after a rollback,
// and each transaction has its own, however many run at once.
import { afterCommit, effects } from 'express-async-api';
import express from 'express';
import knexFactory from 'knex';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const connection = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  database: process.env.PGDATABASE ?? 'test',
};
const table = `effects_${process.pid}`;
let pool: pg.Pool;

beforeAll(async () => {
  pool = new pg.Pool({ ...connection, max: 20 });
  await pool.query(`CREATE TABLE ${table} (id int PRIMARY KEY, jumping boolean NOT NULL DEFAULT false)`);
  await pool.query(`INSERT INTO ${table} (id) SELECT generate_series(1, 100)`);
});

afterAll(async () => {
  await pool.query(`DROP TABLE IF EXISTS ${table}`);
  await pool.end();
});

// Whether another connection sees the row as committed, as an effect runs.
const committed = async (id: number) => (await pool.query(`SELECT jumping FROM ${table} WHERE id = $1`, [id])).rows[0].jumping as boolean;

describe('afterCommit with a pg client', () => {
  it('runs the effects in order after COMMIT, when the change is visible to others; none after ROLLBACK', async () => {
    const client = await pool.connect();
    const ran: string[] = [];
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE ${table} SET jumping = true WHERE id = 1`);
      afterCommit(client, async () => ran.push(`first: ${await committed(1)}`));
      afterCommit(client, () => ran.push('second'));
      expect(ran).toEqual([]);
      await client.query('COMMIT');
      await until(() => ran.length === 2);
      expect(ran).toEqual(['first: true', 'second']);

      await client.query('BEGIN');
      await client.query(`UPDATE ${table} SET jumping = true WHERE id = 2`);
      afterCommit(client, () => ran.push('rolled back'));
      await client.query('SAVEPOINT s');
      await client.query('ROLLBACK TO SAVEPOINT s');
      await client.query('ROLLBACK');
      // A transaction that failed: its COMMIT is a ROLLBACK.
      await client.query('BEGIN');
      afterCommit(client, () => ran.push('failed'));
      await client.query('SELECT no_such_column FROM pg_class').catch(() => {});
      expect((await client.query('COMMIT')).command).toBe('ROLLBACK');
      // Callback style, and a query config object.
      await client.query('BEGIN');
      afterCommit(client, () => ran.push('callback'));
      await new Promise<void>((resolve, reject) => client.query({ text: 'COMMIT' }, (error: Error | null) => (error ? reject(error) : resolve())));
      await until(() => ran.length === 3);
      // A config's own callback, a Submittable, a comment before, and the last of two statements.
      await client.query('BEGIN');
      afterCommit(client, () => ran.push('config callback'));
      await new Promise<void>((resolve, reject) => client.query({ text: 'COMMIT', callback: (error: Error | null) => (error ? reject(error) : resolve()) } as never));
      await until(() => ran.length === 4);
      await client.query('BEGIN');
      afterCommit(client, () => ran.push('submittable'));
      await new Promise<void>((resolve, reject) => client.query(new pg.Query('COMMIT')).on('end', () => resolve()).on('error', reject));
      await until(() => ran.length === 5);
      await client.query('BEGIN');
      afterCommit(client, () => ran.push('comment'));
      await client.query('/* app */ COMMIT');
      await until(() => ran.length === 6);
      await client.query('BEGIN');
      afterCommit(client, () => ran.push('two statements'));
      await client.query('SELECT 1; COMMIT');
      await until(() => ran.length === 7);
    } finally {
      client.release();
    }
    expect(ran).toEqual(['first: true', 'second', 'callback', 'config callback', 'submittable', 'comment', 'two statements']);
    expect(() => afterCommit(pool, () => ran.push('pool'))).toThrow("afterCommit() takes the pool's client of the transaction");
    await pool.query('COMMIT').catch(() => {});
    expect(ran).not.toContain('pool');
    expect(await committed(2)).toBe(false);
  });

  it('100 concurrent requests, each in its own transaction, each run only their own effects', async () => {
    const seen = new Map<number, number[]>();
    const app = express();
    app.post('/froggies/:id/jump', async (req, res, next) => {
      const id = Number(req.params.id);
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`UPDATE ${table} SET jumping = true WHERE id = $1`, [id]);
        for (let n = 0; n < 3; n++) afterCommit(client, () => seen.set(id, [...(seen.get(id) ?? []), n]));
        // Let the others interleave.
        await client.query('SELECT pg_sleep(0)');
        if (id % 10 === 0) await client.query('ROLLBACK');
        else await client.query('COMMIT');
        res.sendStatus(204);
      } catch (error) {
        next(error);
      } finally {
        client.release();
      }
    });
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => request(app).post(`/froggies/${i + 1}/jump`)));
    expect(answers.every((answer) => answer.status === 204)).toBe(true);
    await until(() => seen.size === 90 && [...seen.values()].every((list) => list.length === 3));
    for (let id = 1; id <= 100; id++) expect(seen.get(id)).toEqual(id % 10 === 0 ? undefined : [0, 1, 2]);
  });
});

describe('afterCommit with knex, and by hand', () => {
  it('runs after a knex transaction commits, and not after it rolls back', async () => {
    const knex = knexFactory({ client: 'pg', connection });
    const ran: string[] = [];
    try {
      await knex.transaction(async (trx) => {
        await trx(table).update({ jumping: true }).where({ id: 50 });
        afterCommit(trx, async () => ran.push(`committed: ${await committed(50)}`));
      });
      await until(() => ran.length === 1);
      await knex
        .transaction(async (trx) => {
          afterCommit(trx, () => ran.push('rolled back'));
          throw new Error('no jump');
        })
        .catch(() => {});
      // An explicit rollback (which knex resolves, not rejects).
      const trx = await knex.transaction();
      afterCommit(trx, () => ran.push('explicit rollback'));
      await trx.rollback();
      // Nested: a savepoint released, then the outer transaction rolled back: nothing runs;
      // a savepoint rolled back, the outer committed: the outer's effects alone run.
      const outer = await knex.transaction();
      await outer.transaction(async (inner) => {
        afterCommit(inner, () => ran.push('released, then rolled back'));
      });
      await outer.rollback();
      await knex.transaction(async (top) => {
        afterCommit(top, () => ran.push('outer'));
        await top
          .transaction(async (inner) => {
            afterCommit(inner, () => ran.push('savepoint rolled back'));
            throw new Error('inner fails');
          })
          .catch(() => {});
        await top.transaction(async (inner) => {
          afterCommit(inner, () => ran.push('inner released'));
        });
      });
      await until(() => ran.length === 3);
    } finally {
      await knex.destroy();
    }
    expect(ran).toEqual(['committed: true', 'outer', 'inner released']);
  });

  it('effects.commit() and rollback() for any other transaction; a throwing effect goes to onError, the next runs', async () => {
    const tx = {};
    const ran: string[] = [];
    const errors: unknown[] = [];
    afterCommit(tx, () => ran.push('a'), { onError: (error) => errors.push(error) });
    afterCommit(tx, () => {
      throw new Error('b fails');
    });
    afterCommit(tx, async () => ran.push('c'));
    await effects.commit(tx);
    expect(ran).toEqual(['a', 'c']);
    expect(errors).toEqual([new Error('b fails')]);
    const other = {};
    afterCommit(other, () => ran.push('never'));
    effects.rollback(other);
    await effects.commit(other);
    expect(ran).toEqual(['a', 'c']);
    expect(() => afterCommit(null as never, () => {})).toThrow('afterCommit() takes a transaction object');
    expect(() => afterCommit({}, 'x' as never)).toThrow('afterCommit() takes a function');
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 2_000; turn++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error('the effects did not run');
}

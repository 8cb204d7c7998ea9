// What the tests of the errorHandler option share (test/error-handler*.test.ts): an API's own
// error middleware, and the reads of a task's answer that are compared with a plain route's.
import type { Server } from 'node:http';
import type { ErrorRequestHandler, Express } from 'express';
import request from 'supertest';
import { expect } from 'vitest';
import { binary, comparable, openEvents, type Answer } from './helpers.js';

/** The API's own error middleware: JSON of its own, from what the error carries; 5xx messages kept from clients. */
export const appErrors: ErrorRequestHandler = (err, _req, res, _next) => {
  const status = typeof err.status === 'number' ? err.status : 500;
  if (err.headers) res.set(err.headers);
  res
    .status(status)
    .set('X-Error-Code', String(err.code ?? 'internal'))
    .json({ error: { code: err.code ?? 'internal', message: status < 500 || err.expose === true ? err.message : 'Something went wrong.', details: err.details ?? null } });
};

/** Another route's own error middleware: plain text. */
export const ownErrors: ErrorRequestHandler = (err, _req, res, _next) => {
  res.status(typeof err.status === 'number' ? err.status : 500).type('text').send(`own: ${String(err.code ?? err.name)}`);
};

/** The answer a plain route gives `error`: its middleware's, through the app's error handling. */
export function plainAnswer(app: Express, path: string): Promise<Answer> {
  return binary(request(app).post(path));
}

/** The monitor's answer to a `GET`. */
export async function getAnswer(app: Express, location: string): Promise<ReturnType<typeof comparable>> {
  return comparable(await binary(request(app).get(location)));
}

/** The monitor's answer to a `GET` with `Prefer: wait`, which it holds until the task ends. */
export async function waitAnswer(app: Express, location: string): Promise<ReturnType<typeof comparable>> {
  const answer = await binary(request(app).get(location).set('Prefer', 'wait=20'));
  expect(answer.headers['preference-applied']).toBe('wait=20');
  return comparable(answer);
}

/** The submit's own answer with `Prefer: wait`. */
export async function submitWaitAnswer(app: Express, path: string, body: object = {}): Promise<ReturnType<typeof comparable>> {
  const answer = await binary(request(app).post(path).set('Prefer', 'wait=20').send(body));
  expect(answer.headers['preference-applied']).toBe('wait=20');
  return comparable(answer);
}

/** The data of the final event of the monitor's event stream; `whenOpen` runs once the stream is open. */
export async function eventsDone(server: Server, location: string, whenOpen?: () => Promise<void>): Promise<DoneData> {
  const stream = openEvents(server, location);
  if (whenOpen !== undefined) {
    // The stream is open once its first event came (the task as it is).
    for (let turn = 0; turn < 5_000 && stream.events.length === 0; turn++) await new Promise((resolve) => setTimeout(resolve, 1));
    await whenOpen();
  }
  await stream.ended;
  const done = stream.events.at(-1)!;
  expect(done.event).toBe('done');
  return JSON.parse(done.data) as DoneData;
}

interface DoneData {
  status: string;
  problem?: Record<string, unknown>;
  reply?: { status: number; headers: Answer['headers']; body?: string; bodyEncoding?: 'base64' };
}

/** The final event of the monitor's event stream: for a failure its error handler answered, its `reply`, as an answer. */
export async function eventsAnswer(server: Server, location: string, whenOpen?: () => Promise<void>): Promise<ReturnType<typeof comparable>> {
  const document = await eventsDone(server, location, whenOpen);
  expect(document.problem).toBeUndefined();
  const { status, headers, body, bodyEncoding } = document.reply!;
  return comparable({ status, headers, body: Buffer.from(body ?? '', bodyEncoding ?? 'utf8') });
}

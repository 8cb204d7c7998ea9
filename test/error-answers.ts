// What the tests of the errorHandler option share (test/error-handler*.test.ts): an API's own
// error middleware, and the reads of a task's answer that are compared with a plain route's.
import type { Server } from 'node:http';
import { TaskCanceledError, TaskTimeoutError, type AsyncApi } from 'express-async-api';
import type { ErrorRequestHandler, Express } from 'express';
import request from 'supertest';
import { expect, it } from 'vitest';
import { binary, comparable, openEvents, type Answer } from './helpers.js';

type Comparable = ReturnType<typeof comparable>;

/** The errors of test/fixtures/handlers/app-errors.mjs, made as its handlers throw them. */
interface Fixtures {
  notFoundError(): Error;
  brokenError(): Error;
}

export const appErrorsModule = new URL('./fixtures/handlers/app-errors.mjs', import.meta.url);
const made = (await import(appErrorsModule.href)) as Fixtures;
export const { notFoundError, brokenError } = made;

/** How a test reads a task's answer. */
export type Read = 'GET' | 'Prefer: wait' | 'submit with Prefer: wait' | 'event stream';
export const reads: Read[] = ['GET', 'Prefer: wait', 'submit with Prefer: wait', 'event stream'];

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
export async function getAnswer(app: Express, location: string): Promise<Comparable> {
  return comparable(await binary(request(app).get(location)));
}

/** The monitor's answer to a `GET` with `Prefer: wait`, which it holds until the task ends. */
export async function waitAnswer(app: Express, location: string): Promise<Comparable> {
  const answer = await binary(request(app).get(location).set('Prefer', 'wait=20'));
  expect(answer.headers['preference-applied']).toBe('wait=20');
  return comparable(answer);
}

/** The submit's own answer with `Prefer: wait`. */
export async function submitWaitAnswer(app: Express, path: string, body: object = {}): Promise<Comparable> {
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
export async function eventsAnswer(server: Server, location: string, whenOpen?: () => Promise<void>): Promise<Comparable> {
  const document = await eventsDone(server, location, whenOpen);
  expect(document.problem).toBeUndefined();
  const { status, headers, body, bodyEncoding } = document.reply!;
  return comparable({ status, headers, body: Buffer.from(body ?? '', bodyEncoding ?? 'utf8') });
}

/**
 * An app with the routes the shared cases read (`/plain` and `/plain-own` pass `plain.error`
 * to the app's error handling, the second through `ownErrors`), and how a suite reads them.
 */
export interface FailureApp {
  readonly app: Express;
  readonly plain: { error: unknown };
  /** Submits to `path`, lets its task fail (with `cancels`, canceled once it runs), and reads its answer as `read` says. */
  answerOf(path: string, read: Read, cancels?: boolean): Promise<Comparable>;
  /** The error of the last task whose worker thread crashed, as onError heard of it. */
  lastCrash(): unknown;
}

/**
 * The failures every backend answers as a plain route answers the same error: a thrown 404
 * and 500 (at each of `routes.notFound` and `routes.broken`), a timeout of `routes.timeout` ms
 * at `/times-out`, a cancel at `/waits`, a crashed worker thread at `/crashes`, and a route's
 * own handler at `/own`.
 */
export function failureCases(read: Read, suite: () => FailureApp, routes: { notFound: string[]; broken: string[]; timeout: number }): void {
  // The plain route's answer to `error`, and what it must be.
  const plainFor = async (error: unknown, path = '/plain') => {
    const { app, plain } = suite();
    plain.error = error;
    return comparable(await plainAnswer(app, path));
  };
  const text = (answer: Comparable) => Buffer.from(answer.body, 'hex').toString();

  it('a thrown 404 answers as the app answers it from a plain route, its own properties and all', async () => {
    const expected = await plainFor(notFoundError());
    expect(expected.status).toBe(404);
    expect(JSON.parse(text(expected))).toEqual({ error: { code: 'not_found', message: 'There is no report 7.', details: { report: 7, tried: ['a', 'b'] } } });
    expect(expected.headers['x-hint']).toBe('try report 8');
    for (const path of routes.notFound) expect(await suite().answerOf(path, read)).toEqual(expected);
  });

  it('a thrown 500 answers as from a plain route, its message kept from clients by the app', async () => {
    const expected = await plainFor(brokenError());
    expect(expected.status).toBe(500);
    expect(text(expected)).toContain('Something went wrong.');
    for (const path of routes.broken) expect(await suite().answerOf(path, read)).toEqual(expected);
  });

  it('a timeout answers as a plain route answers a TaskTimeoutError: 504', async () => {
    const expected = await plainFor(new TaskTimeoutError(routes.timeout));
    expect(expected.status).toBe(504);
    expect(expected.headers['x-error-code']).toBe('ERR_TASK_TIMEOUT');
    expect(await suite().answerOf('/times-out', read)).toEqual(expected);
  });

  it('a cancel answers as a plain route answers a TaskCanceledError: 409', async () => {
    const expected = await plainFor(new TaskCanceledError());
    expect(expected.status).toBe(409);
    expect(await suite().answerOf('/waits', read, true)).toEqual(expected);
  });

  it('a crashed worker thread answers as a plain route answers its WorkerCrashedError', async () => {
    const answer = await suite().answerOf('/crashes', read);
    const crash = suite().lastCrash();
    expect(crash).toMatchObject({ name: 'WorkerCrashedError' });
    const expected = await plainFor(crash);
    expect(expected.status).toBe(500);
    expect(expected.headers['x-error-code']).toBe('ERR_WORKER_CRASHED');
    expect(answer).toEqual(expected);
  });

  it("a route's own errorHandler answers its failures, not the global one", async () => {
    const expected = await plainFor(notFoundError(), '/plain-own');
    expect(text(expected)).toBe('own: not_found');
    expect(await suite().answerOf('/own', read)).toEqual(expected);
  });
}

/**
 * `FailureApp.answerOf` for `tasks` on `app`, served by `server`. Each read first asks `begin()`
 * for the submit's body, and how to learn the id of a waiting route's task once it runs (for a
 * cancel): a handler of that route tells it.
 */
export function answers(
  api: () => { app: Express; server: Server; tasks: AsyncApi },
  begin: () => { body: object; running(): Promise<string> },
): FailureApp['answerOf'] {
  return async (path, read, cancels = false) => {
    const { app, server, tasks } = api();
    const { body, running } = begin();
    const cancel = async (id?: string) => {
      if (!cancels) return;
      const runs = await running();
      if (id !== undefined) expect(runs).toBe(id);
      await tasks.cancel(runs);
    };
    if (read === 'submit with Prefer: wait') {
      const answer = submitWaitAnswer(app, path, body);
      await cancel();
      return answer;
    }
    const submitted = await request(app).post(path).send(body);
    expect(submitted.status).toBe(202);
    const { id } = submitted.body as { id: string };
    const location = submitted.headers.location!;
    switch (read) {
      case 'GET':
        await cancel(id);
        await tasks.wait(id);
        return getAnswer(app, location);
      case 'Prefer: wait': {
        const answer = waitAnswer(app, location);
        await cancel(id);
        return answer;
      }
      default:
        return eventsAnswer(server, location, cancels ? () => cancel(id) : undefined);
    }
  };
}

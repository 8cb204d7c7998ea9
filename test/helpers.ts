import { spawn } from 'node:child_process';
import { request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Express } from 'express';
import express5 from 'express';
import express4 from 'express4';
import type { Test } from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';

type ExpressFactory = typeof express5;

/** Both Express majors the library supports; HTTP tests run against each. */
export const expressVersions: [string, ExpressFactory][] = [
  ['Express 5', express5],
  ['Express 4', express4],
];

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** A promise settled from the test: the way tests order events without sleeping. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** An app with `express.json()`, set up by `setup`. */
export function makeApp(express: ExpressFactory, setup: (app: Express) => void): Express {
  const app = express();
  app.use(express.json());
  setup(app);
  return app;
}

type Agent = InstanceType<typeof TestAgent> | { get(url: string): Test };

/**
 * Polls a monitor until it stops answering 202, yielding to the event loop between
 * polls; bounded, so a task that never finishes fails the test instead of hanging it.
 */
export async function untilFinished(agent: Agent, location: string | undefined, maxPolls = 2_000) {
  if (location === undefined) throw new Error('no Location to poll');
  for (let i = 0; i < maxPolls; i++) {
    const response = await agent.get(location);
    if (response.status !== 202) return response;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`${location} still answered 202 after ${maxPolls} polls`);
}

/** Polls a monitor until its status document says `status`. */
export async function untilStatus(agent: Agent, location: string | undefined, status: string, maxPolls = 2_000) {
  if (location === undefined) throw new Error('no Location to poll');
  for (let i = 0; i < maxPolls; i++) {
    const response = await agent.get(location);
    if (response.body?.status === status) return response;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`${location} never reached status ${status}`);
}

/** An HTTP answer with its body as bytes. */
export type Answer = { status: number; headers: Record<string, string | string[]>; body: Buffer };

/** Sends a supertest request and resolves with its answer, the body as it came, in bytes. */
export function binary(test: Test): Promise<Answer> {
  return test
    .buffer(true)
    .parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    })
    .then((res) => ({ status: res.status, headers: res.headers as Answer['headers'], body: res.body as Buffer }));
}

/**
 * An answer less what belongs to one transfer (`Date`, `Connection`, `Keep-Alive`), and what a
 * wrapped answer adds about itself (`Preference-Applied`, `Vary: Prefer`): what a wrapped
 * route's answer must share with the plain route's, byte for byte.
 */
export function comparable(answer: Answer) {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(answer.headers)) {
    if (['date', 'connection', 'keep-alive', 'preference-applied'].includes(name)) continue;
    if (name === 'set-cookie') {
      // An expiry date depends on the moment the cookie was made.
      headers[name] = [value].flat().map((cookie) => cookie.replace(/Expires=[^;]+/, 'Expires=…'));
    } else if (name === 'vary') {
      const kept = String(value)
        .split(/\s*,\s*/)
        .filter((token) => token !== 'Prefer');
      if (kept.length > 0) headers[name] = kept.join(', ');
    } else headers[name] = value;
  }
  return { status: answer.status, headers, body: answer.body.toString('hex') };
}

/**
 * All the bytes of one answer: a request of its own on a connection of its own, read until the
 * server closes it. A POST sends an empty body.
 */
export function exchange(port: number, method: string, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    const length = method === 'POST' ? 'Content-Length: 0\r\n' : '';
    socket.end(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${length}Connection: close\r\n\r\n`);
  });
}

/**
 * The bytes of an answer as text to compare, less its Date line: Latin-1, one character a
 * byte, whatever their encoding. The Date line is searched for in the head only; a body is
 * compared whole.
 */
export function wireComparable(bytes: Buffer): string {
  const text = bytes.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`not an HTTP answer: ${JSON.stringify(text)}`);
  return text.slice(0, end).replace(/\r\nDate: [^\r\n]*/, '') + text.slice(end);
}

export const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const root = fileURLToPath(new URL('..', import.meta.url));

/** Starts an example with PORT=0; `url` resolves once it prints it. */
export function startExample(path: string) {
  const child = spawn(process.execPath, [path], { cwd: root, env: { ...process.env, PORT: '0' } });
  let output = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/localhost:\d+)/.exec(output);
      if (match) resolve(match[1]!.replace('localhost', '127.0.0.1'));
    });
    child.once('exit', (code) => reject(new Error(`example exited with ${code}: ${output}`)));
  });
  return { child, url, output: () => output };
}

/** Polls a monitor with fetch until it stops answering 202; bounded, with a short pause between polls. */
export async function untilDone(url: string): Promise<Response> {
  for (let polls = 0; polls < 1_000; polls++) {
    const response = await fetch(url);
    if (response.status !== 202) return response;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${url} still answered 202 after 1000 polls`);
}

export interface Event {
  event: string;
  data: string;
}

export interface EventStream {
  /** The events so far, as they arrive. */
  events: Event[];
  comments: string[];
  /** Settles when the stream ends, or when `stopAfter` events and comments arrived (then it disconnects). */
  ended: Promise<{ response: IncomingMessage }>;
}

/** Opens an event stream on a listening server and collects its events. */
export function openEvents(server: Server, path: string, stopAfter = Infinity): EventStream {
  const { port } = server.address() as { port: number };
  const events: Event[] = [];
  const comments: string[] = [];
  const ended = new Promise<{ response: IncomingMessage }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { Accept: 'text/event-stream' } }, (response) => {
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(':')) comments.push(block);
          else {
            const fields = Object.fromEntries(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
            if (fields.event) events.push({ event: fields.event, data: fields.data ?? '' });
          }
          if (events.length + comments.length >= stopAfter) {
            req.destroy();
            resolve({ response });
          }
        }
      });
      response.on('end', () => resolve({ response }));
    });
    req.on('error', reject);
    req.end();
  });
  return { events, comments, ended };
}

import { createAsyncApi, type AsyncHandler } from 'express-async-api';
import type { Response } from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { expressVersions, makeApp, untilFinished } from './helpers.js';

// Headers a transfer adds by itself, which a replay need not reproduce.
const perTransfer = new Set(['date', 'connection', 'keep-alive', 'etag', 'x-powered-by', 'transfer-encoding']);

type Handler = (res: Response) => void;

const handlers: Record<string, Handler> = {
  'json with status': (res) => void res.status(201).json({ a: 1, b: [true, null] }),
  'json of a string': (res) => void res.json('text'),
  'send string': (res) => void res.send('<p>hi</p>'),
  'send string with a type': (res) => void res.type('text').send('plain'),
  'send buffer': (res) => void res.send(Buffer.from([1, 2, 3])),
  'send object': (res) => void res.send({ nested: { deep: 1 } }),
  'send null': (res) => void res.send(null),
  sendStatus: (res) => void res.sendStatus(418),
  'redirect, default status': (res) => void res.redirect('/elsewhere?x=1 2'),
  'redirect 301': (res) => void res.redirect(301, 'https://example.com/ü'),
  'set with an object and arrays': (res) =>
    void res.set({ 'X-One': '1', 'X-Many': ['a', 'b'] }).set('Content-Type', 'text/plain').send('x'),
  append: (res) => void res.append('Warning', '199 a').append('Warning', ['199 b', '199 c']).end(),
  'type by extension': (res) => void res.type('.html').send('<b>'),
  'type by name': (res) => void res.type('json').send('{"raw":true}'),
  location: (res) => void res.location('/a path/ü').status(201).end(),
  links: (res) => void res.links({ next: '/p/2', last: '/p/9' }).json([]),
  vary: (res) => void res.vary('Accept').vary('Origin').json({}),
  attachment: (res) => void res.attachment('reports/summary 2026.pdf').send(Buffer.from('%PDF')),
  cookies: (res) =>
    void res
      .cookie('plain', 'v 1', { httpOnly: true, sameSite: 'strict' })
      .cookie('json', { a: 1 })
      .cookie('aged', 'x', { maxAge: 60_000, secure: true })
      .clearCookie('old')
      .send('ok'),
  '204 strips the body': (res) => void res.status(204).send('ignored'),
  '304 strips the body': (res) => void res.status(304).json({ ignored: true }),
  'writeHead, write, end': (res) => {
    res.writeHead(200, { 'Content-Type': 'text/csv', 'X-Rows': 2 });
    res.write('a,b\n');
    res.write(Buffer.from('1,2\n'));
    res.end('3,4\n');
  },
  'setHeader and removeHeader': (res) => {
    res.setHeader('X-Keep', 'yes');
    res.setHeader('X-Drop', 'no');
    res.removeHeader('X-Drop');
    res.end('done');
  },
  'end with latin1 encoding': (res) => void res.type('text').end('caf\u00e9', 'latin1'),
};

// Express 4 reads a number as a (deprecated) status code; the recording follows Express 5.
const express5Only: Record<string, Handler> = {
  'send number': (res) => void res.send(42 as never),
};

describe.each(expressVersions)('%s: a replayed response equals the direct one', (name, express) => {
  const cases = name === 'Express 5' ? { ...handlers, ...express5Only } : handlers;
  it.each(Object.keys(cases))('%s', async (name) => {
    const handler = cases[name]!;
    const tasks = createAsyncApi();
    const app = makeApp(express, (app) => {
      app.set('etag', false);
      app.get('/direct', (_req, res) => handler(res));
      app.post('/async', tasks.asyncApi(((_req, res) => handler(res)) as AsyncHandler));
      app.use(tasks.router);
    });
    const direct = await request(app).get('/direct').buffer(true).parse((res, done) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => done(null, Buffer.concat(chunks)));
    });
    const submitted = await request(app).post('/async');
    const replayed = await untilFinished(
      {
        get: (url: string) =>
          request(app)
            .get(url)
            .buffer(true)
            .parse((res, done) => {
              const chunks: Buffer[] = [];
              res.on('data', (chunk: Buffer) => chunks.push(chunk));
              res.on('end', () => done(null, Buffer.concat(chunks)));
            }),
      },
      submitted.headers.location,
    );
    await tasks.close();

    const headersOf = (headers: Record<string, string | string[]>) =>
      Object.fromEntries(
        Object.entries(headers)
          .filter(([key]) => !perTransfer.has(key))
          // Cookie expiry dates depend on the clock of the moment they were made.
          .map(([key, value]) => [key, key === 'set-cookie' ? [value].flat().map((c) => c.replace(/Expires=[^;]+/, 'Expires=…')) : value]),
      );
    // A response written in chunks goes out chunked; its replay knows its length.
    if (direct.headers['transfer-encoding'] === 'chunked') delete replayed.headers['content-length'];
    expect(replayed.status).toBe(direct.status);
    expect(headersOf(replayed.headers)).toEqual(headersOf(direct.headers));
    expect((replayed.body as Buffer).toString('hex')).toBe((direct.body as Buffer).toString('hex'));
  });
});

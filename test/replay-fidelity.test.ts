// Express's behaviour is the specification of a replay. Every handler of
// fixtures/responses/cases.mjs is mounted three times in an app of its own settings: as a
// plain route, as a wrapped inline route and as a worker-thread route; the same request
// goes to each, and the answers must be the same: status, headers and body bytes, less the
// headers of one transfer (Date, Connection, Keep-Alive). Wrapped answers are read through
// the monitor and through `Prefer: wait` on the submit. On Express 4 and on Express 5: the
// worker routes run in a project whose `express` is the app's.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createAsyncApi, type AsyncApi, type AsyncHandler } from 'express-async-api';
import type { Express, RequestHandler } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binary, comparable, expressVersions } from './helpers.js';

// Express 4 warns of its deprecated signatures, which some cases use on purpose.
process.env.NO_DEPRECATION = 'express';

type Cases = Record<string, (req: never, res: never, next: never) => unknown>;

interface Case {
  /** The export of cases.mjs. */
  handler: string;
  /** The export the wrapped routes run instead, when it should answer as `handler` does. */
  wrapped?: string;
  /** Sets the case's app up: settings, engines, middleware before the routes. */
  setup?: (app: Express) => void;
  headers?: Record<string, string>;
  /** The query string, with its `?`. */
  query?: string;
  /** Only on this Express. */
  only?: 4 | 5;
  /** Why the worker-thread route is not compared (what cannot reach a thread). */
  inlineOnly?: string;
}

const views = fileURLToPath(new URL('./fixtures/responses/views/', import.meta.url));
const useTemplates = (app: Express) => {
  app.engine('tpl', (path: string, options: object, done: (error: unknown, html?: string) => void) =>
    done(null, readFileSync(path, 'utf8').replace('{{name}}', (options as { name: string }).name)),
  );
  app.set('views', views);
  app.set('view engine', 'tpl');
};
const setting = (name: string, value: unknown) => (app: Express) => void app.set(name, value);

const cases: Case[] = [
  // bodies
  { handler: 'jsonStatus', query: '?x=1&y=2' },
  { handler: 'jsonString' },
  { handler: 'jsonNull' },
  { handler: 'jsonUnicode' },
  { handler: 'sendHtml' },
  { handler: 'sendTyped' },
  { handler: 'sendBuffer' },
  { handler: 'sendObject' },
  { handler: 'sendNull' },
  { handler: 'sendNothing' },
  { handler: 'sendBoolean' },
  { handler: 'sendLarge' },
  { handler: 'sendWithCharset' },
  // Express 4 fails on a parameter it cannot parse.
  { handler: 'sendBadContentTypeParameter', only: 5 },
  { handler: 'sendStatus' },
  { handler: 'sendStatusNoContent' },
  { handler: 'status205' },
  { handler: 'status204' },
  { handler: 'status304' },
  // headers
  { handler: 'setObject' },
  { handler: 'append' },
  { handler: 'typeByExtension' },
  { handler: 'typeByName' },
  { handler: 'contentType' },
  { handler: 'location' },
  { handler: 'links' },
  { handler: 'vary' },
  { handler: 'varyEmpty' },
  { handler: 'headerCase' },
  { handler: 'removeHeader' },
  { handler: 'attachment' },
  { handler: 'attachmentLatin1' },
  { handler: 'attachmentUnicode' },
  // cookies
  { handler: 'cookies' },
  {
    handler: 'signedCookie',
    setup: (app) => app.use((req, _res, next) => void ((req as { secret?: string }).secret = 'keyboard cat', next())),
    inlineOnly: 'the cookie secret is not sent to threads',
  },
  // redirects, negotiated
  { handler: 'redirect' },
  { handler: 'redirect', headers: { Accept: 'text/html' } },
  { handler: 'redirect', headers: { Accept: 'text/plain' } },
  { handler: 'redirect', headers: { Accept: 'image/png' } },
  { handler: 'redirect301', headers: { Accept: 'text/html' } },
  { handler: 'format', headers: { Accept: 'text/html' } },
  { handler: 'format', headers: { Accept: 'application/json' } },
  { handler: 'format', headers: { Accept: 'text/*;q=0.9, application/json;q=0.5' } },
  { handler: 'formatDefault', headers: { Accept: 'image/png' } },
  // JSONP
  { handler: 'jsonp', query: '?callback=handle' },
  { handler: 'jsonp' },
  { handler: 'jsonpStatus', query: '?callback=a.b' },
  { handler: 'jsonp', query: '?cb=mine', setup: setting('jsonp callback name', 'cb') },
  // files
  { handler: 'sendFile' },
  { handler: 'sendFileRoot' },
  { handler: 'sendFileNoCache' },
  { handler: 'sendFileLarge' },
  { handler: 'sendFileCallback' },
  { handler: 'download' },
  { handler: 'downloadNamed' },
  { handler: 'render', setup: useTemplates, inlineOnly: 'views render through the app, which a thread has not' },
  // Node's own API
  { handler: 'writeHeadWriteEnd' },
  { handler: 'writeHeadReason' },
  { handler: 'writeWithoutLength' },
  { handler: 'explicitLength' },
  { handler: 'noDate' },
  { handler: 'flushHeaders' },
  { handler: 'endLatin1' },
  { handler: 'endCallback' },
  { handler: 'trailers' },
  { handler: 'piped' },
  { handler: 'pipedFile' },
  { handler: 'statusMessage' },
  // what middleware did before the handler
  {
    handler: 'fromMiddleware',
    setup: (app) => app.use((_req, res, next) => void (res.cookie('middleware', '1').set('X-Request-Id', 'r-1'), next())),
  },
  {
    handler: 'locals',
    setup: (app) => app.use((_req, res, next) => void ((res.locals.user = 'ann'), next())),
    inlineOnly: 'res.locals may hold anything, and is not sent to threads',
  },
  // Express 4's own ways (and what Express 5 makes of them)
  { handler: 'sendNumber' },
  { handler: 'sendBodyStatus' },
  { handler: 'sendStatusBody' },
  { handler: 'statusString', only: 4 },
  // settings
  { handler: 'sendHtml', setup: setting('etag', 'strong') },
  { handler: 'sendHtml', setup: setting('etag', false) },
  { handler: 'sendHtml', setup: setting('etag', () => '"custom"'), inlineOnly: 'a function setting cannot reach a thread' },
  { handler: 'jsonStatus', setup: setting('json spaces', 2) },
  { handler: 'jsonUnicode', setup: setting('json escape', true) },
  {
    handler: 'jsonStatus',
    setup: setting('json replacer', (key: string, value: unknown) => (key === 'b' ? undefined : value)),
    inlineOnly: 'a function setting cannot reach a thread',
  },
  { handler: 'query', query: '?a[b]=1&c=2&c=3', setup: setting('query parser', 'extended') },
  { handler: 'query', query: '?a[b]=1&c=2&c=3', setup: setting('query parser', 'simple') },
  // A returned value answers as res.json(value) would.
  { handler: 'jsonValue', wrapped: 'returnsValue' },
  { handler: 'jsonSmall', wrapped: 'returnsSmall' },
  { handler: 'jsonValueCreated', wrapped: 'returnsValueCreated' },
  { handler: 'jsonValueTyped', wrapped: 'returnsValueTyped' },
  { handler: 'jsonSmall', wrapped: 'returnsSmall', setup: setting('etag', false) },
  { handler: 'jsonValue', wrapped: 'returnsValue', setup: setting('etag', 'strong') },
  { handler: 'jsonValue', wrapped: 'returnsValue', setup: setting('json spaces', '\t') },
  { handler: 'jsonValue', wrapped: 'returnsValue', setup: setting('json escape', true) },
  {
    handler: 'jsonValue',
    wrapped: 'returnsValue',
    setup: setting('json replacer', (key: string, value: unknown) => (key === 'long' ? undefined : value)),
    inlineOnly: 'a function setting cannot reach a thread',
  },
  {
    handler: 'jsonSmall',
    wrapped: 'returnsSmall',
    setup: setting('etag', (body: Buffer) => `"${body.length}"`),
    inlineOnly: 'a function setting cannot reach a thread',
  },
];

// Conditional and range requests: the replay applies them as Express and send do.
const conditionalCases: Case[] = [
  { handler: 'sendHtml' },
  { handler: 'jsonStatus' },
  { handler: 'sendFile' },
  { handler: 'download' },
];

const root = fileURLToPath(new URL('..', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures/responses/', import.meta.url));

describe.each(expressVersions)('%s: a wrapped route answers as the plain route does', (name, express) => {
  const version = name === 'Express 5' ? 5 : 4;
  let project: string | undefined;
  let module: URL;
  let handlers: Cases;
  let tasks: AsyncApi;
  let app: Express;

  beforeAll(async () => {
    if (version === 5) {
      module = new URL('./fixtures/responses/cases.mjs', import.meta.url);
    } else {
      // A project of its own whose `express` is Express 4, as an Express 4 app's handler modules are.
      project = mkdtempSync(join(tmpdir(), 'express4-project-'));
      cpSync(fixtures, join(project, 'responses'), { recursive: true, preserveTimestamps: true });
      mkdirSync(join(project, 'node_modules'));
      symlinkSync(join(root, 'node_modules', 'express4'), join(project, 'node_modules', 'express'), 'dir');
      module = pathToFileURL(join(project, 'responses', 'cases.mjs'));
    }
    handlers = (await import(module.href)) as Cases;
    tasks = createAsyncApi({ onError: () => {}, threads: { max: 2 } });
    app = express();
    app.use(express.json());
    for (const [index, one] of [...cases, ...conditionalCases].entries()) {
      const sub = express();
      one.setup?.(sub);
      const handler = handlers[one.handler] as unknown as RequestHandler;
      const wrapped = one.wrapped ?? one.handler;
      sub.get('/plain', handler);
      sub.get('/inline', tasks.asyncApi(handlers[wrapped] as unknown as AsyncHandler));
      if (!one.inlineOnly) sub.get('/worker', tasks.asyncApi.worker(module, { export: wrapped }));
      sub.use(tasks.router);
      app.use(`/${index}`, sub);
    }
  });

  afterAll(async () => {
    await tasks.close({ timeout: 1_000 });
    if (project) rmSync(project, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}) => binary(request(app).get(path).set(headers));

  async function throughMonitor(path: string, headers: Record<string, string>) {
    const submitted = await get(path, headers);
    expect(submitted.status).toBe(202);
    const monitor = submitted.headers.location as string;
    for (let polls = 0; polls < 2_000; polls++) {
      const answer = await get(monitor, headers);
      if (answer.status !== 202) return answer;
      await new Promise((resolve) => setImmediate(resolve));
    }
    throw new Error(`${monitor} still answered 202`);
  }

  const label = (one: Case) =>
    [one.wrapped ? `${one.wrapped} as ${one.handler}` : one.handler, one.query, one.headers && Object.values(one.headers).join(' '), one.setup && 'with its settings'].filter(Boolean).join(' ');
  const ofVersion = cases.filter((one) => one.only === undefined || one.only === version);

  describe.each(['inline', 'worker'] as const)('%s', (kind) => {
    const own = ofVersion.filter((one) => kind === 'inline' || !one.inlineOnly);
    it.each(own.map((one) => [label(one), one] as const))('%s', async (_label, one) => {
      const index = cases.indexOf(one);
      const headers = one.headers ?? {};
      const query = one.query ?? '';
      const plain = comparable(await get(`/${index}/plain${query}`, headers));
      const monitor = comparable(await throughMonitor(`/${index}/${kind}${query}`, headers));
      const waited = comparable(await get(`/${index}/${kind}${query}`, { ...headers, Prefer: 'wait=10' }));
      expect(monitor).toEqual(plain);
      expect(waited).toEqual(plain);
    });
  });

  describe('conditional and range requests', () => {
    const at = (one: Case) => cases.length + conditionalCases.indexOf(one);
    it.each(conditionalCases.map((one) => [one.handler, one] as const))('%s: If-None-Match and If-Modified-Since give 304', async (_label, one) => {
      const first = await get(`/${at(one)}/plain`);
      const asks: Record<string, string>[] = [
        { 'If-None-Match': String(first.headers.etag) },
        ...(first.headers['last-modified'] ? [{ 'If-Modified-Since': String(first.headers['last-modified']) }] : []),
        { 'If-None-Match': '"something-else"' },
      ];
      for (const headers of asks) {
        const plain = comparable(await get(`/${at(one)}/plain`, headers));
        for (const kind of ['inline', 'worker']) {
          expect(comparable(await throughMonitor(`/${at(one)}/${kind}`, headers))).toEqual(plain);
          expect(comparable(await get(`/${at(one)}/${kind}`, { ...headers, Prefer: 'wait=10' }))).toEqual(plain);
        }
      }
      expect(comparable(await get(`/${at(one)}/plain`, asks[0]!)).status).toBe(304);
    });

    it('a Range request to a file gets 206, as send answers it; If-Range that no longer matches gets the whole file', async () => {
      const one = conditionalCases.find((c) => c.handler === 'sendFile')!;
      const first = await get(`/${at(one)}/plain`);
      const ranges: Record<string, string>[] = [{ Range: 'bytes=0-3' }, { Range: 'bytes=-5' }, { Range: 'bytes=5-' }, { Range: 'bytes=0-1,5-6' }, { Range: 'bytes=0-3', 'If-Range': String(first.headers.etag) }, { Range: 'bytes=0-3', 'If-Range': '"stale"' }];
      for (const headers of ranges) {
        const plain = comparable(await get(`/${at(one)}/plain`, headers));
        for (const kind of ['inline', 'worker']) {
          expect(comparable(await throughMonitor(`/${at(one)}/${kind}`, headers))).toEqual(plain);
        }
      }
      expect((await get(`/${at(one)}/plain`, { Range: 'bytes=0-3' })).status).toBe(206);
    });

    it('an unsatisfiable Range gets 416 with the size, as a problem document', async () => {
      const one = conditionalCases.find((c) => c.handler === 'sendFile')!;
      const plain = await get(`/${at(one)}/plain`, { Range: 'bytes=900-999' });
      const replayed = await throughMonitor(`/${at(one)}/inline`, { Range: 'bytes=900-999' });
      expect([replayed.status, replayed.headers['content-range']]).toEqual([plain.status, plain.headers['content-range']]);
      expect(replayed.headers['content-type']).toBe('application/problem+json');
      expect(JSON.parse(replayed.body.toString())).toEqual({ type: 'about:blank', title: 'Range Not Satisfiable', status: 416 });
    });
  });
});

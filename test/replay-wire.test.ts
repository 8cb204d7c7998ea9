// The bytes a replay puts on the wire, against Node's own. Every handler of
// fixtures/wire/cases.mjs uses only Node's ServerResponse API, and is served from a plain
// http server, as a wrapped inline route and as a worker-thread route. The same request,
// over a raw socket, must get the same bytes from each: status line, header order and
// case, framing (Content-Length or chunked, and the chunk sizes), trailers, body. Only
// the Date line is left out, as it names the moment. This is where a Node upgrade that
// changes how ServerResponse frames a response shows: the capture imitates Node, and the
// replay writes through it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAsyncApi, type AsyncApi, type AsyncHandler } from 'express-async-api';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, wireComparable as comparable } from './helpers.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
type Method = 'GET' | 'HEAD';

interface Case {
  /** The export of cases.mjs. */
  handler: string;
  method: Method;
  /**
   * How the replay's bytes differ from Node's, where it cannot do otherwise (see the
   * comment at the case): the case runs as `it.fails`, so that a change shows.
   */
  differs?: string;
}

const get = (handler: string, differs?: string): Case => ({ handler, method: 'GET', differs });
const head = (handler: string): Case => ({ handler, method: 'HEAD' });

const cases: Case[] = [
  // bodies and their framing
  get('endString'),
  get('endEmptyString'),
  get('endBuffer'),
  get('endUtf8Buffer'),
  get('endNothing'),
  get('endCallback'),
  get('endLatin1'),
  get('endHex'),
  get('writeBase64'),
  get('writeChunked'),
  get('writeEmptyChunk'),
  get('largeWrites'),
  get('writeReturnIgnored'),
  get('flushHeadersEnd'),
  // the head through writeHead
  get('writeHeadEnd'),
  get('writeHeadEndNothing'),
  get('writeHeadObject'),
  get('writeHeadObjectOverSet'),
  get('writeHeadArray'),
  get('writeHeadRepeated'),
  get('writeHeadRepeatedOverSet'),
  // writeHead() with no header set before: Node sends the list as given. The replay cannot:
  // it writes to a response on which Express has set headers already, where Node's
  // writeHead() sets each name once, so the values of a name go together, under its first
  // spelling. (In an Express app the original has such headers too, and no difference.)
  get('writeHeadRepeatedApart', 'the second X-Rep comes before X-Other'),
  get('writeHeadRepeatedCase', 'x-rep is sent as X-Rep'),
  get('writeHeadPairs'),
  get('writeHeadReason'),
  get('statusMessage'),
  get('status299'),
  // bodiless statuses
  get('status204'),
  get('status304'),
  get('status205'),
  // framing headers
  get('removeContentLengthEnd'),
  get('removeContentLengthWrites'),
  get('removeTransferEncodingWrites'),
  get('removeBothWrites'),
  get('explicitLengthWrites'),
  get('explicitChunkedEnd'),
  get('removeDate'),
  get('sendDateFalse'),
  get('connectionClose'),
  get('removeConnection'),
  // header names and values
  get('headerCase'),
  get('setCookies'),
  get('appendHeader'),
  get('numberValues'),
  get('setHeadersHeaders'),
  // Node sets a Headers' (or Map's) `set-cookie` after the other fields.
  get('setHeadersCookies'),
  get('setHeadersMapCookie'),
  get('setHeadersMap'),
  get('numericHeaderName'),
  get('latin1HeaderString'),
  get('latin1HeaderBuffer'),
  get('latin1HeaderChunked'),
  // Node sends these heads in UTF-8, with the first text sent after them ('' or the body's
  // first write); the replay does too.
  get('latin1HeaderFlush'),
  get('latin1HeaderEmptyWrite'),
  get('latin1HeaderLengthWrites'),
  get('contentDispositionLatin1'),
  get('contentDispositionLatin1Buffer'),
  // trailers
  get('trailers'),
  get('trailersEnd'),
  // Node's addTrailers() replaces the trailers of an earlier call.
  get('trailersTwice'),
  // Node sends a trailer of several values as a line each.
  get('trailersArray'),
  // HEAD, as a client reads the monitor without the body
  head('endString'),
  head('endNothing'),
  head('writeChunked'),
  head('writeHeadEnd'),
  head('explicitLengthWrites'),
  head('flushHeadersEnd'),
  head('status204'),
  head('removeBothWrites'),
  head('status205'),
  head('latin1HeaderString'),
  head('latin1HeaderBuffer'),
  head('largeWrites'),
];

const module = new URL('./fixtures/wire/cases.mjs', import.meta.url);

const statusOf = (bytes: Buffer): number => Number(/^HTTP\/1\.1 (\d{3}) /.exec(bytes.toString('latin1'))?.[1]);

function headerOf(bytes: Buffer, name: string): string | undefined {
  const text = bytes.toString('latin1');
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  return new RegExp(`\r\n${name}: ([^\r\n]*)`, 'i').exec(head)?.[1];
}

describe('a replay puts the same bytes on the wire as Node', () => {
  let handlers: Record<string, Handler>;
  let tasks: AsyncApi;
  let plain: Server;
  let wrapped: Server;
  const port = (server: Server) => (server.address() as AddressInfo).port;

  beforeAll(async () => {
    handlers = (await import(module.href)) as Record<string, Handler>;
    // The URL names the handler; nothing else is between Node and it.
    plain = createServer((req, res) => handlers[req.url!.slice(1)]!(req, res));

    tasks = createAsyncApi({ threads: { max: 2 } });
    const app = express();
    // Express adds nothing to the answers, so that only the capture and the replay are compared.
    app.set('x-powered-by', false);
    app.set('etag', false);
    for (const name of new Set(cases.map((one) => one.handler))) {
      app.get(`/inline/${name}`, tasks.asyncApi(handlers[name] as unknown as AsyncHandler));
      app.get(`/worker/${name}`, tasks.asyncApi.worker(module, { export: name }));
    }
    app.use(tasks.router);
    wrapped = createServer(app);

    await Promise.all([plain, wrapped].map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
  });

  afterAll(async () => {
    await tasks.close();
    await Promise.all([plain, wrapped].map((server) => new Promise((resolve) => server.close(resolve))));
  });

  // Submitted and polled with GETs, as a client does; a finished task's reply is read
  // again with HEAD for a HEAD case.
  async function throughMonitor(path: string, method: Method): Promise<Buffer> {
    const submitted = await exchange(port(wrapped), 'GET', path);
    expect(statusOf(submitted), submitted.toString('latin1')).toBe(202);
    const location = headerOf(submitted, 'Location');
    if (location === undefined) throw new Error(`no Location in ${submitted.toString('latin1')}`);
    for (let polls = 0; polls < 2_000; polls++) {
      const answer = await exchange(port(wrapped), 'GET', location);
      if (statusOf(answer) !== 202) return method === 'GET' ? answer : exchange(port(wrapped), method, location);
      await new Promise((resolve) => setImmediate(resolve));
    }
    throw new Error(`${location} still answered 202 after 2000 polls`);
  }

  describe.each(['inline', 'worker'] as const)('%s', (kind) => {
    const label = (one: Case) => `${one.method} ${one.handler}`;
    const check = async (one: Case) => {
      const expected = comparable(await exchange(port(plain), one.method, `/${one.handler}`));
      const actual = comparable(await throughMonitor(`/${kind}/${one.handler}`, one.method));
      expect(actual).toBe(expected);
    };
    const same = cases.filter((one) => one.differs === undefined);
    const differing = cases.filter((one) => one.differs !== undefined);
    it.each(same.map((one) => [label(one), one] as const))('%s', (_label, one) => check(one));
    it.fails.each(differing.map((one) => [`${label(one)} (differs: ${one.differs})`, one] as const))('%s', (_label, one) => check(one));
  });
});

// What the capture under a handler's res does beyond Express's own methods: the size
// bound, aborting what is in flight, a socket of its own, and the request's context.
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { createAsyncApi, problemTypes, type AsyncApi, type AsyncApiOptions, type TaskRequest } from 'express-async-api';
import type { Express, Request } from 'express';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { deferred, expressVersions, makeApp, untilFinished, untilStatus } from './helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'capture-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each(expressVersions)('%s: the capture', (_name, express) => {
  let tasks: AsyncApi;
  afterEach(async () => {
    await tasks?.close({ timeout: 100 });
  });

  function setup(options: AsyncApiOptions<Request> | undefined, routes: (app: Express, tasks: AsyncApi) => void): Express {
    tasks = createAsyncApi({ onError: () => {}, ...options });
    return makeApp(express, (app) => {
      routes(app, tasks);
      app.use(tasks.router);
    });
  }

  async function run(app: Express, path = '/h', accept = '*/*') {
    const submitted = await request(app).post(path).set('Accept', accept);
    expect(submitted.status).toBe(202);
    return untilFinished(request(app), submitted.headers.location);
  }

  it('fails a reply larger than maxReplyBytes with a reply-too-large problem', async () => {
    const app = setup({ maxReplyBytes: 1_000 }, (app, tasks) => {
      app.post('/h', tasks.asyncApi((_req, res) => res.send(Buffer.alloc(1_001))));
      app.post('/fits', tasks.asyncApi((_req, res) => res.send(Buffer.alloc(1_000))));
    });
    const done = await run(app);
    expect(done.status).toBe(500);
    expect(done.body).toMatchObject({ type: problemTypes.replyTooLarge, title: 'Reply too large', status: 500 });
    expect((await run(app, '/fits')).status).toBe(200);
  });

  it('stops a piped stream at the bound instead of buffering it', async () => {
    let pulled = 0;
    const app = setup({ maxReplyBytes: 64 * 1024 }, (app, tasks) =>
      app.post(
        '/h',
        tasks.asyncApi((_req, res) => {
          // 50 MiB on demand, 64 KiB at a time: it counts what the capture made it produce.
          const source = new Readable({
            read() {
              pulled += 65_536;
              this.push(pulled > 50 * 1024 * 1024 ? null : Buffer.alloc(65_536));
            },
          });
          source.pipe(res);
        }),
      ),
    );
    const done = await run(app);
    expect(done.body.type).toBe(problemTypes.replyTooLarge);
    expect(pulled).toBeLessThan(1024 * 1024);
  });

  it("aborts a sendFile at the bound: Express's callback gets ECONNABORTED", async () => {
    const big = join(scratch, 'big.bin');
    writeFileSync(big, '');
    truncateSync(big, 50 * 1024 * 1024);
    const aborted = deferred<string | undefined>();
    const app = setup({ maxReplyBytes: 64 * 1024 }, (app, tasks) =>
      app.post('/h', tasks.asyncApi((_req, res) => res.sendFile(big, (error) => aborted.resolve((error as NodeJS.ErrnoException | undefined)?.code)))),
    );
    const done = await run(app);
    expect(done.body.type).toBe(problemTypes.replyTooLarge);
    expect(await aborted.promise).toBe('ECONNABORTED');
  });

  it('closes on cancel, as a response whose client went away: a stream in flight is destroyed', async () => {
    const closed = deferred<unknown>();
    let source!: Readable;
    const app = setup(undefined, (app, tasks) =>
      app.post(
        '/h',
        tasks.asyncApi((_req, res) => {
          source = new Readable({ read() {} });
          pipeline(source, res, (error) => closed.resolve(error));
          source.push('part one');
        }),
      ),
    );
    const submitted = await request(app).post('/h');
    await untilStatus(request(app), submitted.headers.location, 'running');
    await request(app).delete(submitted.headers.location!);
    expect(await closed.promise).toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    expect(source.destroyed).toBe(true);
    expect((await request(app).get(submitted.headers.location!)).body.type).toBe(problemTypes.taskCanceled);
  });

  it('runs on a socket of its own: a client that goes away after its 202 does not cancel the task', async () => {
    const release = deferred();
    const app = setup(undefined, (app, tasks) =>
      app.post(
        '/h',
        tasks.asyncApi(async (_req, res) => {
          await release.promise;
          res.status(201).json({ socketDestroyed: res.socket?.destroyed ?? null });
        }),
      ),
    );
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as { port: number };
    try {
      // A raw client that reads its 202 and hangs up.
      const head = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write('POST /h HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'));
        let text = '';
        socket.on('data', (chunk) => {
          text += chunk.toString();
          if (text.includes('\r\n\r\n')) {
            socket.destroy();
            resolve(text);
          }
        });
        socket.on('error', reject);
      });
      const location = /^Location: (.+)$/m.exec(head)![1]!.trim();
      release.resolve();
      const done = await untilFinished(request(server), location);
      expect(done.status).toBe(201);
      expect(done.body).toEqual({ socketDestroyed: false });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("runs the handler in the request's async context, with req.next and req.res its own", async () => {
    const context = new AsyncLocalStorage<string>();
    const app = setup(undefined, (app, tasks) => {
      app.use((_req, _res, next) => context.run('request-7', next));
      app.post(
        '/h',
        tasks.asyncApi((req, res, next) => {
          res.json({ context: context.getStore(), next: req.next === next, res: req.res === res, task: typeof (req as TaskRequest).task.id });
        }),
      );
      app.post('/format', tasks.asyncApi((_req, res) => res.format({ 'application/xml': () => res.send('<x/>') })));
    });
    expect((await run(app)).body).toEqual({ context: 'request-7', next: true, res: true, task: 'string' });
    // res.format calls req.next with a 406 when nothing fits: the handler's own next fails the task.
    const notAcceptable = await run(app, '/format', 'text/html');
    expect(notAcceptable.status).toBe(406);
    expect(notAcceptable.body.title).toBe('Not Acceptable');
  });

  it('answers HEAD on a reply with trailers without them, where Node would refuse the Trailer header', async () => {
    const app = setup(undefined, (app, tasks) =>
      app.post(
        '/h',
        tasks.asyncApi((_req, res) => {
          res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Checksum' });
          res.write('body');
          res.addTrailers({ 'X-Checksum': 'abc' });
          res.end();
        }),
      ),
    );
    const submitted = await request(app).post('/h');
    const done = await untilFinished(request(app), submitted.headers.location);
    expect([done.status, done.text]).toEqual([200, 'body']);
    const head = await request(app).head(submitted.headers.location!);
    expect(head.status).toBe(200);
    expect(head.headers.trailer).toBeUndefined();
  });

  it('keeps writes after the end and after a cancel from the reply, and never crashes on them', async () => {
    const wrote = deferred<[boolean, string | undefined]>();
    const app = setup(undefined, (app, tasks) =>
      app.post(
        '/h',
        tasks.asyncApi((_req, res) => {
          res.end('first');
          const kept = res.write('second', (error) => wrote.resolve([kept, (error as NodeJS.ErrnoException | null | undefined)?.code]));
        }),
      ),
    );
    const done = await run(app);
    expect(done.text).toBe('first');
    expect(await wrote.promise).toEqual([false, 'ERR_STREAM_WRITE_AFTER_END']);
  });
});

// npx express-async-api worker --redis redis://127.0.0.1:6379 --queue reports --concurrency 4
import { createServer, type Server } from 'node:http';
import { parseArgs } from 'node:util';

const usage = `Usage: express-async-api worker --queue NAME [options]

Runs the handler modules of a queue's tasks (web processes use bullmqBackend()).

Options:
  --redis URL          Redis to connect to (default redis://127.0.0.1:6379, or $REDIS_URL)
  --queue NAME         the queue to take tasks from (required)
  --concurrency N      tasks at once, each on a thread of its own (default 1)
  --allow DIR          a directory whose handler modules may run; repeat for more
                       (default: the working directory)
  --grace-period MS    how long a canceled handler has before its thread is ended (default 1000)
  --metrics-port N     serve Prometheus metrics on GET /metrics at this port (needs prom-client)
  --metrics-host HOST  the address the metrics listen on (default: every address)
  -h, --help           this text
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      redis: { type: 'string' },
      queue: { type: 'string' },
      concurrency: { type: 'string' },
      allow: { type: 'string', multiple: true },
      'grace-period': { type: 'string' },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (positionals[0] !== 'worker' || positionals.length !== 1 || values.queue === undefined) {
    process.stderr.write(usage);
    return 2;
  }
  const number = (value: string | undefined, name: string): number | undefined => {
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value)) throw new Error(`--${name} takes a whole number, got ${value}`);
    return Number(value);
  };
  const metricsPort = number(values['metrics-port'], 'metrics-port');
  if (metricsPort !== undefined && metricsPort > 65535) throw new Error(`--metrics-port takes a port from 0 to 65535, got ${metricsPort}`);
  const { startWorker } = await loadBullmqEntry();
  const metrics = metricsPort === undefined ? undefined : (await loadMetricsEntry()).asyncApiMetrics();
  const worker = await startWorker({
    ...(metrics === undefined ? {} : { metrics }),
    connection: values.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    queue: values.queue,
    ...(values.concurrency === undefined ? {} : { concurrency: number(values.concurrency, 'concurrency') }),
    ...(values.allow === undefined ? {} : { allow: values.allow }),
    ...(values['grace-period'] === undefined ? {} : { threads: { gracePeriod: number(values['grace-period'], 'grace-period') } }),
  });
  let server: Server | undefined;
  if (metrics !== undefined && metricsPort !== undefined) {
    const { registry } = metrics;
    server = createServer((req, res) => {
      if (req.url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found: the metrics are at GET /metrics\n');
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (error: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${error instanceof Error ? error.message : String(error)}\n`),
      );
    });
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(metricsPort, values['metrics-host'], () => resolve());
    });
    const address = listening.address();
    const port = typeof address === 'object' && address !== null ? address.port : metricsPort;
    process.stdout.write(`express-async-api worker ${process.pid}: metrics on port ${port}, GET /metrics\n`);
  }
  process.stdout.write(`express-async-api worker ${process.pid}: taking tasks from queue "${values.queue}"\n`);
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  server?.close();
  await worker.close();
  return 0;
}

// express-async-api/metrics, loaded only with --metrics-port: it needs prom-client, an optional peer.
async function loadMetricsEntry(): Promise<typeof import('express-async-api/metrics')> {
  try {
    return await import('express-async-api/metrics');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && (error as Error).message.includes(`'prom-client'`)) {
      throw new Error('--metrics-port serves metrics from prom-client, which is not installed here: npm install prom-client');
    }
    throw error;
  }
}

// The package's own express-async-api/bullmq, loaded only for a worker: it needs bullmq and
// ioredis, optional peers, which --help does not.
async function loadBullmqEntry(): Promise<typeof import('express-async-api/bullmq')> {
  try {
    return await import('express-async-api/bullmq');
  } catch (error) {
    const missing = ['bullmq', 'ioredis'].find((name) => (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && (error as Error).message.includes(`'${name}'`));
    if (missing === undefined) throw error;
    throw new Error(`the worker runs on BullMQ, and ${missing} is not installed here: npm install bullmq ioredis`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`express-async-api: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

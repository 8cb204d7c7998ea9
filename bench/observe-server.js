// The server side of bench/core.js's rows for metrics and traces, in a process of its own.
//   node bench/observe-server.js observed: an OpenTelemetry SDK registered (its spans go to a
//     batch processor with an exporter that drops them), each request in a span of its own as
//     an HTTP instrumentation would make; /neither has no metrics and tracing: false,
//     /observed has asyncApiMetrics() and tracing. With BENCH_BEFORE, /before-neither and
//     /before-observed are the same routes of that build (its own prom-client; the tracing
//     API's state is global, shared by every copy of @opentelemetry/api).
//   node --require bench/hide-peers.cjs bench/observe-server.js absent: prom-client and
//     @opentelemetry/api cannot be found; /wrapped is this build, /baseline the build at
//     BENCH_BEFORE_METRICS (the release before metrics and traces), and with BENCH_BEFORE,
//     /before that build; all with no options.
// (bench/builds.js says what BENCH_BEFORE and BENCH_BEFORE_METRICS are.)
import { createRequire } from 'node:module';
import express from 'express';
import { before, beforeMetrics, here, library } from './builds.js';
import { serve } from './serve.js';

const mode = process.argv[2];
const app = express();
const handler = () => ({ ok: true, n: 42 });
const options = { maxTasks: Infinity, ttl: 2_000 };
const closables = [];

// Mounts `route` wrapped by a new createAsyncApi of `options`, with its own status path.
function mount(createAsyncApi, route, routeOptions) {
  const tasks = createAsyncApi({ ...options, ...routeOptions, statusPath: `${route}-status` });
  app.post(route, tasks.asyncApi(handler));
  closables.push(tasks);
}

if (mode === 'observed') {
  const { context, propagation, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const dropping = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropping)] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  closables.push({ close: () => provider.shutdown() });
  const tracer = trace.getTracer('bench');
  app.use((_req, res, next) => {
    tracer.startActiveSpan('request', (span) => {
      res.once('finish', () => span.end());
      next();
    });
  });
  for (const [prefix, dir] of [['/', here], ...(before === undefined ? [] : [['/before-', before]])]) {
    const { createAsyncApi } = await library(dir);
    const metrics = (await library(dir, 'metrics.js')).asyncApiMetrics();
    mount(createAsyncApi, `${prefix}neither`, { tracing: false });
    mount(createAsyncApi, `${prefix}observed`, { metrics });
    mount(createAsyncApi, `${prefix}metrics-only`, { metrics, tracing: false });
    mount(createAsyncApi, `${prefix}tracing-only`, {});
  }
} else if (mode === 'absent') {
  // As the library looks for them.
  const require = createRequire(new URL('dist/index.js', `file://${here}`));
  for (const name of ['prom-client', '@opentelemetry/api']) {
    let found = true;
    try {
      require(name);
    } catch {
      found = false;
    }
    if (found) throw new Error(`${name} can be loaded: run this with --require bench/hide-peers.cjs`);
  }
  if (beforeMetrics === undefined) throw new Error('BENCH_BEFORE_METRICS must be the directory of the build to compare with');
  mount((await library(here)).createAsyncApi, '/wrapped');
  mount((await library(beforeMetrics)).createAsyncApi, '/baseline');
  if (before !== undefined) mount((await library(before)).createAsyncApi, '/before');
} else throw new Error(`unknown mode ${mode}`);

serve(app, ...closables);

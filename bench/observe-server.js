// The server side of bench/core.js's rows for metrics and traces, in a process of its own.
//   node bench/observe-server.js observed: an OpenTelemetry SDK registered (its spans go to a
//     batch processor with an exporter that drops them), each request in a span of its own as
//     an HTTP instrumentation would make; /neither has no metrics and tracing: false,
//     /observed has asyncApiMetrics() and tracing.
//   node --require bench/hide-peers.cjs bench/observe-server.js absent: prom-client and
//     @opentelemetry/api cannot be found; /wrapped is this build, /before the build at
//     BENCH_BEFORE (the release before metrics and traces), both with no options.
import { createRequire } from 'node:module';
import express from 'express';
import { serve } from './serve.js';
import { createAsyncApi } from '../dist/index.js';

const mode = process.argv[2];
const app = express();
const handler = () => ({ ok: true, n: 42 });
const options = { maxTasks: Infinity, ttl: 2_000 };
const closables = [];

if (mode === 'observed') {
  const { context, propagation, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { asyncApiMetrics } = await import('../dist/metrics.js');
  const dropping = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropping)] });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const tracer = trace.getTracer('bench');
  app.use((_req, res, next) => {
    tracer.startActiveSpan('request', (span) => {
      res.once('finish', () => span.end());
      next();
    });
  });
  const neither = createAsyncApi({ ...options, tracing: false, statusPath: '/neither-status' });
  const metrics = asyncApiMetrics();
  const observed = createAsyncApi({ ...options, metrics, statusPath: '/observed-status' });
  const metricsOnly = createAsyncApi({ ...options, metrics, tracing: false, statusPath: '/metrics-status' });
  const tracingOnly = createAsyncApi({ ...options, statusPath: '/tracing-status' });
  app.post('/neither', neither.asyncApi(handler));
  app.post('/observed', observed.asyncApi(handler));
  app.post('/metrics-only', metricsOnly.asyncApi(handler));
  app.post('/tracing-only', tracingOnly.asyncApi(handler));
  closables.push(neither, observed, metricsOnly, tracingOnly, { close: () => provider.shutdown() });
} else if (mode === 'absent') {
  // As the library looks for them.
  const require = createRequire(new URL('../dist/index.js', import.meta.url));
  for (const name of ['prom-client', '@opentelemetry/api']) {
    let found = true;
    try {
      require(name);
    } catch {
      found = false;
    }
    if (found) throw new Error(`${name} can be loaded: run this with --require bench/hide-peers.cjs`);
  }
  if (process.env.BENCH_BEFORE === undefined) throw new Error('BENCH_BEFORE must be the directory of the build to compare with');
  const before = await import(new URL('dist/index.js', `file://${process.env.BENCH_BEFORE}/`).href);
  const now = createAsyncApi({ ...options, statusPath: '/now-status' });
  const then = before.createAsyncApi({ ...options, statusPath: '/before-status' });
  app.post('/wrapped', now.asyncApi(handler));
  app.post('/before', then.asyncApi(handler));
  closables.push(now, then);
} else throw new Error(`unknown mode ${mode}`);

serve(app, ...closables);

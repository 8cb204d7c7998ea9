// An app whose every request runs in a span of its own, "submit" (POST) or "read", as an HTTP
// instrumentation would make: the parent the task and monitor spans are looked for under.
import type { Server } from 'node:http';
import { trace } from '@opentelemetry/api';
import express from 'express';

const tracer = trace.getTracer('test');

/** Builds the app with `setup` and listens on 127.0.0.1 at a free port. */
export function listenTraced(setup: (app: express.Express) => void): Promise<{ base: string; server: Server }> {
  const app = express();
  app.use((req, res, next) => {
    tracer.startActiveSpan(req.method === 'POST' ? 'submit' : 'read', (span) => {
      res.once('close', () => span.end());
      next();
    });
  });
  setup(app);
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve({ base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server }));
  });
}

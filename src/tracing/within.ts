import { openTelemetryApi } from './api.js';

/**
 * Where a job that came from another thread or process runs: inside the trace context its
 * headers carry (extracted by the registered propagator), so that the spans its handler makes
 * nest under the task's span. `undefined` without @opentelemetry/api.
 */
export function traceContextOf(headers: Readonly<Record<string, string>>): (<T>(fn: () => T) => T) | undefined {
  const api = openTelemetryApi();
  if (api === undefined) return undefined;
  const context = api.propagation.extract(api.ROOT_CONTEXT, headers);
  return (fn) => api.context.with(context, fn);
}

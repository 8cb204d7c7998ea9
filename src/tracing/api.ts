// @opentelemetry/api, an optional peer: loaded on first use, and only if it is installed. The
// main entry, the thread entry and the worker work without it. Its state (the registered
// provider, propagator and context manager) is global to the process or thread, shared by
// every copy of the package (its ES and CommonJS builds alike), so the copy loaded here sees
// the SDK the app registered.
import { createRequire } from 'node:module';
import type * as OpenTelemetry from '@opentelemetry/api';

export type OpenTelemetryApi = typeof OpenTelemetry;

let loaded: OpenTelemetryApi | null | undefined;

/** @opentelemetry/api, or `undefined` when it is not installed. */
export function openTelemetryApi(): OpenTelemetryApi | undefined {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('@opentelemetry/api') as OpenTelemetryApi;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

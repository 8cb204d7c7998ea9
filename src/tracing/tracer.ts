import type { Context, SpanContext, Tracer, TracerProvider } from '@opentelemetry/api';
import type { MonitorKind, RunSpan, TaskTrace, TaskTracer } from '../core/observer.js';
import type { Task } from '../core/task.js';
import { openTelemetryApi, type OpenTelemetryApi } from './api.js';

/** The span attributes of a task, as the README lists them. */
export const attributes = {
  taskId: 'async_api.task.id',
  route: 'async_api.route',
  attempt: 'async_api.task.attempt',
  outcome: 'async_api.task.outcome',
  monitorKind: 'async_api.monitor.kind',
} as const;

// The tasks whose span (or, until it runs here, whose submit's span) a monitor read links to:
// the latest ones, a bounded number.
const LINKS = 10_000;

/**
 * The tracer of tasks on @opentelemetry/api; `undefined` when the package is not installed.
 * Whether an SDK is registered is asked at each submit (a comparison): without one nothing is
 * captured, so nothing is traced and nothing allocated.
 */
export function openTelemetryTracer(): TaskTracer | undefined {
  const api = openTelemetryApi();
  return api === undefined ? undefined : new OpenTelemetryTracer(api);
}

class OpenTelemetryTracer implements TaskTracer {
  readonly #api: OpenTelemetryApi;
  // What the API's provider delegates to when no SDK is registered.
  readonly #noop: TracerProvider;
  #provider: TracerProvider | undefined;
  #tracer: Tracer | undefined;
  readonly #links = new Map<string, SpanContext>();

  constructor(api: OpenTelemetryApi) {
    this.#api = api;
    this.#noop = new api.ProxyTracerProvider().getDelegate();
  }

  // The tracer of the SDK registered now; undefined when there is none.
  #current(): Tracer | undefined {
    const provider = this.#api.trace.getTracerProvider() as TracerProvider & { getDelegate?: () => TracerProvider };
    const delegate = typeof provider.getDelegate === 'function' ? provider.getDelegate() : provider;
    if (delegate === this.#noop) return undefined;
    if (delegate !== this.#provider) {
      this.#provider = delegate;
      this.#tracer = this.#api.trace.getTracer('express-async-api');
    }
    return this.#tracer;
  }

  #remember(id: string, span: SpanContext): void {
    this.#links.delete(id);
    this.#links.set(id, span);
    if (this.#links.size > LINKS) this.#links.delete(this.#links.keys().next().value as string);
  }

  capture(task: Task): TaskTrace | undefined {
    if (this.#current() === undefined) return undefined;
    const { context, propagation, trace } = this.#api;
    const active = context.active();
    const submit = trace.getSpan(active);
    if (submit !== undefined) this.#remember(task.id, submit.spanContext());
    // The headers only for a job that leaves this process: a run here takes the context itself.
    let headers: Record<string, string> | undefined;
    return {
      ...(task.route === undefined ? {} : { route: task.route }),
      local: active,
      get headers() {
        if (headers === undefined) {
          headers = {};
          propagation.inject(active, headers);
        }
        return headers;
      },
    };
  }

  run(id: string, attempt: number, captured: TaskTrace): RunSpan | undefined {
    const tracer = this.#current();
    if (tracer === undefined) return undefined;
    const api = this.#api;
    const parent = (captured.local as Context | undefined) ?? api.propagation.extract(api.ROOT_CONTEXT, captured.headers);
    const route = captured.route ?? '(none)';
    const span = tracer.startSpan(
      `async-api.task ${route}`,
      { kind: api.SpanKind.CONSUMER, attributes: { [attributes.taskId]: id, [attributes.route]: route, [attributes.attempt]: attempt } },
      parent,
    );
    this.#remember(id, span.spanContext());
    const active: Context = api.trace.setSpan(parent, span);
    let headers: Record<string, string> | undefined;
    // A thread's progress may arrive after its end: the span has ended then.
    let ended = false;
    return {
      get headers() {
        if (headers === undefined) {
          headers = {};
          api.propagation.inject(active, headers);
        }
        return headers;
      },
      within: (fn) => api.context.with(active, fn),
      started: () => span.addEvent('started'),
      progress(fraction, message) {
        if (!ended) span.addEvent('progress', message === undefined ? { fraction } : { fraction, message });
      },
      waiting(event) {
        if (!ended) span.addEvent('waiting', { event });
      },
      end(outcome, error) {
        ended = true;
        span.setAttribute(attributes.outcome, outcome);
        if (outcome === 'failed' || outcome === 'timed_out' || outcome === 'retried') {
          if (error instanceof Error) span.recordException(error);
          if (outcome !== 'retried') span.setStatus({ code: api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : outcome });
        }
        span.end();
      },
    };
  }

  monitored(kind: MonitorKind, id: string): (() => void) | undefined {
    const tracer = this.#current();
    if (tracer === undefined) return undefined;
    const { trace } = this.#api;
    // The request's own span (an HTTP instrumentation's) says which task it read, too.
    trace.getActiveSpan()?.setAttribute(attributes.taskId, id);
    const link = this.#links.get(id);
    const span = tracer.startSpan('async-api.monitor', {
      attributes: { [attributes.taskId]: id, [attributes.monitorKind]: kind },
      links: link === undefined ? [] : [{ context: link }],
    });
    return () => span.end();
  }
}

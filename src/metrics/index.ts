// express-async-api/metrics: Prometheus metrics on prom-client (an optional peer: only this
// entry loads it).
export { asyncApiMetrics, defaultBuckets, type AsyncApiMetrics, type AsyncApiMetricsOptions } from './metrics.js';
export type { BackendCensus, MonitorKind, RejectReason, TaskMetrics, ThreadPoolStats } from '../core/observer.js';

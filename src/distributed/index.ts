// express-async-api/bullmq: many web processes and many worker processes, on Redis.
export { bullmqBackend, type BullmqBackendOptions } from './bullmq-backend.js';
export { startWorker, type StartWorkerOptions, type TaskWorker } from './worker.js';
export type { RedisConnection } from './connection.js';
export type { QueuedTask } from './queued-task.js';
export { RedisStore, type RedisStoreOptions } from '../stores/redis-store.js';

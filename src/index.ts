export { createAsyncApi, type AsyncApi, type AsyncApiWrapper } from './express/create-async-api.js';
export type { AsyncHandler, TaskInfo, TaskRequest } from './express/types.js';
export type { WorkerHandler, WorkerRequest, WorkerResponse } from './express/worker-types.js';
export type { AppSettings, RequestSnapshot, ResponseSnapshot } from './core/backend.js';
export type {
  AsyncApiOptions,
  CloseOptions,
  ErrorMiddleware,
  ResourceLimits,
  RouteOptions,
  ThreadOptions,
  WorkerRouteOptions,
} from './core/options.js';
export type { Outcome, Reply, Rerun, RunRecord, StatusDocument, Task, TaskStatus } from './core/task.js';
export type { TaskCounts, TaskPage, TaskQuery } from './core/task-query.js';
export type { RouteMinute } from './core/activity.js';
export type { DashboardOptions } from './dashboard/router.js';
export type { BackendStats, BulkQuery, BulkResult } from './core/admin.js';
export { TaskFailedError, type CodeTaskFunction, type CodeTaskInfo } from './core/code-task.js';
export { afterCommit, effects, type AfterCommitOptions } from './effects/after-commit.js';
export type { DefineOptions, SubmitTaskOptions, TaskDefinition, TaskHandle } from './core/definitions.js';
export type { HandlerModuleJob, CallModuleJob } from './core/backend.js';
export type { NewTask, StoreListener, TaskListener, TaskStore } from './core/store.js';
export type { DurableLimits, DurableRecord, SentEvent, WaitOptions, WaitOutcome, WaitRequest, WaitingFor } from './core/durable.js';
export { problemTypes, type Problem, type ProblemDocument } from './core/problem.js';
export type { ErrorRecord } from './core/error-record.js';
export type { FailedTask } from './express/error-handler.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory-store.js';
export { memoryBackend, type MemoryBackendOptions } from './backends/memory-backend.js';
export type { Backend, BackendFactory, InlineJob, ModuleJob, RunModuleOptions } from './core/backend.js';
export type { DoneDocument, ReplyDocument } from './express/event-stream.js';
export {
  AsyncApiError,
  EventLimitError,
  InvalidEventError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  HandlerModuleError,
  ForbiddenError,
  InvalidArgumentError,
  InvalidQueryError,
  NotRerunnableError,
  InvalidOptionError,
  IdempotencyKeyError,
  IdempotencyKeyReusedError,
  InvalidResultError,
  NoWorkerError,
  NoResponseError,
  ReplyTooLargeError,
  ShuttingDownError,
  StoreUnavailableError,
  TaskCanceledError,
  TaskFinishedError,
  TaskLimitError,
  TaskNotFoundError,
  TaskTimeoutError,
  TransferError,
  UnsupportedResponseMethodError,
  WorkerCrashedError,
} from './core/errors.js';
export type { BackendCensus, MonitorKind, RejectReason, RunSpan, TaskMetrics, TaskTrace, TaskTracer, ThreadPoolStats } from './core/observer.js';

export { createAsyncApi, type AsyncApi } from './express/create-async-api.js';
export type { AsyncHandler, TaskInfo, TaskRequest } from './express/types.js';
export type { RecordingResponse } from './express/recording-response.js';
export type { AsyncApiOptions, CloseOptions, RouteOptions } from './core/options.js';
export type { Outcome, Reply, StatusDocument, Task, TaskStatus } from './core/task.js';
export type { NewTask, TaskListener, TaskStore } from './core/store.js';
export { problemTypes, type Problem, type ProblemDocument } from './core/problem.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory-store.js';
export {
  AsyncApiError,
  InvalidArgumentError,
  InvalidOptionError,
  NoResponseError,
  ShuttingDownError,
  TaskCanceledError,
  TaskFinishedError,
  TaskLimitError,
  TaskNotFoundError,
  TaskTimeoutError,
  UnsupportedResponseMethodError,
} from './core/errors.js';

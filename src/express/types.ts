import type { NextFunction, Request, Response } from 'express';

/** What a handler learns of its task, as `req.task`. */
export interface TaskInfo {
  readonly id: string;
  /** Aborts when the task is canceled, times out, or the server shuts down; `reason` says which. */
  readonly signal: AbortSignal;
  /** Reports progress, shown by the monitor: a fraction from 0 to 1 and an optional message. */
  progress(fraction: number, message?: string): void;
}

/** The request a wrapped handler gets: Express's own, with `req.task`. */
export type TaskRequest = Request & { task: TaskInfo };

/**
 * An ordinary Express handler, run after the 202 was sent. Its `res` records what it
 * writes (see `RecordingResponse`) for the monitor to replay.
 */
export type AsyncHandler = (req: TaskRequest, res: Response, next: NextFunction) => unknown;

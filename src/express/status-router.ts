import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AsyncApiError, TaskNotFoundError } from '../core/errors.js';
import type { Configuration } from '../core/options.js';
import { canceledProblem, problemFromError, problemTypes } from '../core/problem.js';
import type { TaskRegistry } from '../core/registry.js';
import { sendAccepted, sendProblem, sendReply, sendStatusDocument } from './answers.js';
import { ownerOf } from './owner.js';

const allowed = 'GET, HEAD, DELETE';

// The id in a monitor path; undefined when its percent-encoding is broken (no task has it).
function decodeId(raw: string): string | undefined {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * The status monitor: `GET`/`HEAD` and `DELETE` on `<statusPath>/<id>`, relative to where
 * it is mounted. Other paths pass through to the next middleware.
 */
export function createStatusRouter(registry: TaskRegistry, config: Configuration<Request>): RequestHandler {
  const prefix = `${config.statusPath}/`;

  return function asyncApiStatus(req: Request, res: Response, next: NextFunction): void {
    const { path } = req;
    if (!path.startsWith(prefix)) return next();
    const raw = path.endsWith('/') ? path.slice(prefix.length, -1) : path.slice(prefix.length);
    if (raw.includes('/')) return next();
    const monitor = `${req.baseUrl}${prefix}${raw}`;

    const answer = async (): Promise<void> => {
      const id = decodeId(raw);
      if (id === undefined) throw new TaskNotFoundError(raw);
      const owner = ownerOf(req, config);
      if (req.method === 'GET' || req.method === 'HEAD') {
        const task = await registry.get(id, owner);
        switch (task.status) {
          case 'queued':
          case 'running':
            return sendAccepted(res, task, monitor, config);
          case 'succeeded':
            return sendReply(res, task.reply!);
          case 'failed':
            return sendProblem(res, task.problem!, monitor, config);
          case 'canceled':
            return sendProblem(res, canceledProblem, monitor, config);
        }
      }
      if (req.method === 'DELETE') {
        return sendStatusDocument(res, 200, await registry.cancel(id, owner));
      }
      sendProblem(
        res,
        {
          status: 405,
          type: problemTypes.methodNotAllowed,
          title: 'Method not allowed',
          detail: `A task monitor answers ${allowed}.`,
          expose: true,
        },
        monitor,
        config,
        { Allow: allowed },
      );
    };

    answer().catch((error: unknown) => {
      // Unknown, finished: answers about the task. Anything else is the app's to handle.
      if (error instanceof AsyncApiError && error.status < 500) sendProblem(res, problemFromError(error), monitor, config);
      else next(error);
    });
  };
}

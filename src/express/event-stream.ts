import type { ServerResponse } from 'node:http';
import type { Configuration } from '../core/options.js';
import type { AnswerSettings } from './answers.js';
import { canceledProblem, toProblemDocument, type ProblemDocument } from '../core/problem.js';
import type { TaskRegistry } from '../core/registry.js';
import { isFinished, toStatusDocument, type Reply, type StatusDocument, type Task } from '../core/task.js';
import type { FailureReply } from './error-handler.js';

/** A recorded reply in an event: headers as an object with lower-case names, a binary body in base64. */
export interface ReplyDocument {
  status: number;
  headers: Record<string, string | string[]>;
  body?: string;
  bodyEncoding?: 'base64';
}

/**
 * The data of the final `done` event: the status document, with the reply or the problem (for
 * a failed or canceled task the app's error handler answered: the reply it wrote).
 */
export interface DoneDocument extends StatusDocument {
  reply?: ReplyDocument;
  problem?: ProblemDocument;
}

function toReplyDocument(reply: Reply): ReplyDocument {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < reply.headers.length; i += 2) {
    const name = (reply.headers[i] as string).toLowerCase();
    const value = reply.headers[i + 1] as string;
    const existing = headers[name];
    headers[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  const document: ReplyDocument = { status: reply.status, headers };
  if (typeof reply.body === 'string') document.body = reply.body;
  else if (reply.body !== undefined) {
    document.body = Buffer.from(reply.body.buffer, reply.body.byteOffset, reply.body.byteLength).toString('base64');
    document.bodyEncoding = 'base64';
  }
  return document;
}

function doneDocument(task: Task, monitor: string, config: AnswerSettings & Pick<Configuration, 'heartbeat'>, answered: Reply | undefined): DoneDocument {
  const document: DoneDocument = toStatusDocument(task, monitor);
  const reply = task.status === 'succeeded' ? task.reply! : answered;
  if (reply !== undefined) document.reply = toReplyDocument(reply);
  else document.problem = toProblemDocument(task.problem ?? canceledProblem, monitor, config.exposeErrors);
  return document;
}

/**
 * Answers a monitor as Server-Sent Events: a `progress` event with the status document at
 * once and on each change while the task is live (at most one per turn of the event loop),
 * a `done` event with the final status document and the reply or problem, then the end of
 * the stream. Comments every `heartbeat` ms keep an idle stream open through proxies.
 * Rejects with `TaskNotFoundError`, before anything is written, for a task it may not see.
 * `failure`: the app's error handler, which answers a failed or canceled task's `done`.
 */
export async function streamTask(
  res: ServerResponse,
  registry: TaskRegistry,
  id: string,
  owner: string | undefined,
  monitor: string,
  config: AnswerSettings & Pick<Configuration, 'heartbeat'>,
  failure?: FailureReply,
): Promise<void> {
  let pending: NodeJS.Immediate | undefined;
  let latest: Task;
  let heartbeat: NodeJS.Timeout | undefined;
  let ended = false;
  let last: string | undefined;

  const send = (): void => {
    pending = undefined;
    if (ended) return;
    if (isFinished(latest.status)) {
      ended = true;
      // The done event receives the answer, and takes a read-once one: a stream that lost
      // it to another reader ends without it (its client's next read gets 404).
      registry
        .claim(latest)
        .then(async (task) => {
          const answered = failure === undefined || task.status === 'succeeded' ? undefined : await failure(task);
          return `event: done\ndata: ${JSON.stringify(doneDocument(task, monitor, config, answered))}\n\n`;
        })
        .then(
          (done) => res.end(done),
          () => res.end(),
        );
    } else {
      // A store may tell of a task as it already was (one that reads it as the watch starts):
      // an event goes out only when the document changed.
      const data = JSON.stringify(toStatusDocument(latest, monitor));
      if (data === last) return;
      last = data;
      res.write(`event: progress\ndata: ${data}\n\n`);
    }
  };
  // Until the stream is open, a change is only kept: it may be newer than the read of the task
  // that the watch resolves with (with Redis it comes on another connection, and may come
  // first), and nothing may be written before the head.
  let open = false;
  let heard: Task | undefined;
  const { task, stop } = await registry.watch(id, owner, (changed) => {
    if (!open) {
      heard = changed;
      return;
    }
    latest = changed;
    pending ??= setImmediate(send);
  });
  // A finished task is not older than any change; otherwise the last change heard is at least
  // as new as the read, or the change that makes the read newer is still to come.
  latest = isFinished(task.status) || heard === undefined ? task : heard;
  open = true;

  const cleanUp = (): void => {
    ended = true;
    stop();
    clearInterval(heartbeat);
    if (pending !== undefined) clearImmediate(pending);
  };
  res.once('close', cleanUp);

  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/event-stream');
  res.setHeader('Cache-Control', 'no-store');
  // nginx buffers responses unless told otherwise.
  res.setHeader('X-Accel-Buffering', 'no');
  res.write(`retry: ${Math.max(config.retryAfter, 1) * 1000}\n\n`);
  send();
  if (!ended) {
    heartbeat = setInterval(() => res.write(': heartbeat\n\n'), config.heartbeat);
    heartbeat.unref();
  }
}

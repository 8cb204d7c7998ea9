// The handler module: web processes name it, worker processes run it (on a worker thread).
import { setTimeout as sleep } from 'node:timers/promises';

export default async function report(req, res) {
  const steps = Math.min(Number(req.query.steps ?? 3), 60);
  for (let step = 1; step <= steps; step++) {
    await sleep(500, undefined, { signal: req.task.signal });
    req.task.progress(step / steps, `step ${step} of ${steps}`);
  }
  res.status(201).json({ report: req.task.id, steps, worker: process.pid });
}

// A CPU-bound handler in a module of its own: it runs on a worker thread, so the
// server's event loop stays free while it hashes. Same (req, res) shape as any handler.
import { createHash } from 'node:crypto';

export default function hash(req, res) {
  const rounds = Math.min(Math.max(Number(req.body?.rounds ?? 3_000_000), 1), 50_000_000);
  let digest = Buffer.from(String(req.body?.text ?? 'hello'));
  for (let round = 1; round <= rounds; round++) {
    digest = createHash('sha256').update(digest).digest();
    if (round % 250_000 === 0) req.task.progress(round / rounds, `${round} of ${rounds} rounds`);
  }
  // A loop like this never yields, so it cannot see its signal: a cancel or a timeout
  // terminates its thread after the grace period, and the pool starts a new one.
  res.status(201).json({ rounds, sha256: digest.toString('hex') });
}

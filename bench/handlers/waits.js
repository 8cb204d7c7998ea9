// A handler module that runs until its task is canceled: it awaits its AbortSignal. It
// keeps a worker thread busy, so the tasks submitted after it stay queued.
export default async function waits(req) {
  const { signal } = req.task;
  if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  return { canceled: true }; // dropped: the task ended canceled
}

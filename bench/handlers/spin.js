// CPU work of a given length, the unit of the thread benchmarks.
function spin(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

/** As a handler module: spins `?ms=` milliseconds, answers when it finished. */
export default function spinHandler(req) {
  spin(Number(req.query.ms));
  return { finishedAt: Date.now() };
}

/** As a plain piscina task: the same work, without the library. */
export function plain(ms) {
  spin(ms);
  return Date.now();
}

/** As a task defined in code (`tasks.define(name, module, { export: 'call' })`): `{ ms }`. */
export function call(input) {
  spin(input.ms);
  return { finishedAt: Date.now() };
}

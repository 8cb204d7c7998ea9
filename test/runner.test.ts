// The runner's deferred start: with deferStart, a task that ends within it is written once,
// at its end, with its start; a longer one is marked running when the delay passes.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TaskRunner, type ExecutionContext, type Executor } from '../src/core/runner.js';
import type { Reply } from '../src/core/task.js';
import { MemoryStore } from '../src/stores/memory-store.js';
import { deferred } from './helpers.js';

const reply: Reply = { status: 200, headers: [], body: 'done' };

// An executor whose job is a deferred promise the test settles.
function controlled(): { executor: Executor<Promise<Reply>>; started: Promise<ExecutionContext> } {
  const started = deferred<ExecutionContext>();
  return {
    started: started.promise,
    executor: {
      async execute(job, context) {
        context.start();
        started.resolve(context);
        return context.untilAborted(job);
      },
      async close() {},
    },
  };
}

describe('TaskRunner with deferStart', () => {
  let store: MemoryStore;
  beforeEach(() => {
    vi.useFakeTimers();
    store = new MemoryStore();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await store.close();
  });

  it('writes a task that ends within the delay once, at its end, with when it started', async () => {
    const runner = new TaskRunner(store, () => {}, { deferStart: 10 });
    const { id } = await store.create({ id: 't1', owner: undefined, createdAt: Date.now() });
    const start = vi.spyOn(store, 'start');
    const finish = vi.spyOn(store, 'finish');
    const result = deferred<Reply>();
    const { executor, started } = controlled();
    const done = runner.run(id, result.promise, executor, undefined);
    await started;
    const startedAt = Date.now();
    await vi.advanceTimersByTimeAsync(5);
    expect((await store.get(id))?.status).toBe('queued');
    result.resolve(reply);
    await done;
    expect(start).not.toHaveBeenCalled();
    expect(finish).toHaveBeenCalledWith(id, { status: 'succeeded', reply }, startedAt + 5, startedAt);
    expect(await store.get(id)).toMatchObject({ status: 'succeeded', startedAt, finishedAt: startedAt + 5 });
  });

  it('marks a longer task running when the delay passes, or at its first progress', async () => {
    const runner = new TaskRunner(store, () => {}, { deferStart: 10 });
    for (const [name, nudge] of [
      ['by the delay', async () => vi.advanceTimersByTimeAsync(10)],
      ['by progress', async (context: ExecutionContext) => context.progress(0.5)],
    ] as const) {
      const { id } = await store.create({ id: name, owner: undefined, createdAt: Date.now() });
      const result = deferred<Reply>();
      const { executor, started } = controlled();
      const done = runner.run(id, result.promise, executor, undefined);
      const context = await started;
      await nudge(context);
      expect((await store.get(id))?.status).toBe('running');
      result.resolve(reply);
      await done;
      expect((await store.get(id))?.status).toBe('succeeded');
    }
  });

  it('still ends a canceled task at once', async () => {
    const runner = new TaskRunner(store, () => {}, { deferStart: 10 });
    const { id } = await store.create({ id: 't3', owner: undefined, createdAt: Date.now() });
    const { executor, started } = controlled();
    const done = runner.run(id, new Promise<Reply>(() => {}), executor, undefined);
    const context = await started;
    await store.finish(id, { status: 'canceled' }, Date.now());
    expect(context.aborted).toBe(true);
    await done;
    expect((await store.get(id))?.status).toBe('canceled');
  });
});

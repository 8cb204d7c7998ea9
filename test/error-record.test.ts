// The error record a failed task keeps for the app's error handler (Problem.error), and the
// Error rebuilt from it, or from a problem kept without one.
import { describe, expect, it } from 'vitest';
import { MAX_ERROR_RECORD_BYTES, errorFromRecord, errorRecord } from '../src/core/error-record.js';
import { AsyncApiError, NoWorkerError, ShuttingDownError, TaskTimeoutError, WorkerCrashedError, fromErrorShape, toErrorShape } from '../src/core/errors.js';
import { canceledProblem, errorOfProblem, problemFromError } from '../src/core/problem.js';

describe('errorRecord()', () => {
  it("keeps name, message, status, statusCode, code, expose and the error's own plain JSON properties, in order", () => {
    class PaymentError extends Error {
      constructor() {
        super('The card was declined.');
        this.name = 'PaymentError';
      }
    }
    const error = Object.assign(new PaymentError(), { status: 402, statusCode: 402, code: 'card_declined', expose: true, decline: { reason: 'funds', retry: null }, attempts: [1, 2] });
    expect(errorRecord(error)).toEqual({
      name: 'PaymentError',
      message: 'The card was declined.',
      status: 402,
      statusCode: 402,
      code: 'card_declined',
      expose: true,
      properties: { decline: { reason: 'funds', retry: null }, attempts: [1, 2] },
    });
  });

  it('names the handler that answers it, unless it is the global one', () => {
    expect(errorRecord(new Error('x'), 0)).not.toHaveProperty('handler');
    expect(errorRecord(new Error('x'), 2)).toMatchObject({ handler: 2 });
  });

  it('leaves out what JSON does not keep as it is: functions, BigInt, undefined, dates, class instances, cycles, deep nesting, NaN', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const error = Object.assign(new Error('x'), {
      fn: () => 1,
      big: 1n,
      missing: undefined,
      when: new Date(0),
      map: new Map(),
      cycle,
      deep: JSON.parse(`${'['.repeat(30)}${']'.repeat(30)}`) as unknown,
      nan: Number.NaN,
      nested: { fine: [true, 'yes', 1.5], bad: { fn: () => 2 } },
      kept: 'yes',
    });
    expect(errorRecord(error).properties).toEqual({ kept: 'yes' });
  });

  it('a record is plain data of its own: later changes of the error do not reach it', () => {
    const details = { a: 1 };
    const record = errorRecord(Object.assign(new Error('x'), { details }));
    details.a = 2;
    expect(record.properties).toEqual({ details: { a: 1 } });
  });

  it(`is at most ${MAX_ERROR_RECORD_BYTES} bytes: a property too large is left out, a message too long is cut, labels too`, () => {
    const error = Object.assign(new Error('short'), { first: 'a'.repeat(3_000), second: 'b'.repeat(3_000), third: 'c' });
    const record = errorRecord(error);
    expect(Object.keys(record.properties!)).toEqual(['first', 'third']);
    expect(Buffer.byteLength(JSON.stringify(record))).toBeLessThanOrEqual(MAX_ERROR_RECORD_BYTES);
    // Multi-byte characters and characters JSON escapes count as what they take.
    const long = errorRecord(Object.assign(new Error('é"\n'.repeat(5_000)), { name: 'N'.repeat(1_000), code: 'C'.repeat(1_000) }));
    expect(Buffer.byteLength(JSON.stringify(long))).toBeLessThanOrEqual(MAX_ERROR_RECORD_BYTES);
    expect(long.message.length).toBeGreaterThan(1_000);
    expect(long.name).toHaveLength(256);
    expect(long.code).toHaveLength(256);
  });

  it('makes a record of what is not an Error too', () => {
    expect(errorRecord('plain text')).toEqual({ name: 'Error', message: 'plain text' });
    expect(errorRecord({ status: 409, message: 'taken', extra: 1 })).toEqual({ name: 'Error', message: 'taken', status: 409, properties: { extra: 1 } });
    expect(errorRecord(undefined)).toEqual({ name: 'Error', message: 'undefined' });
  });
});

describe('errorFromRecord()', () => {
  it('rebuilds an Error with its fields and properties, and a stack of its first line only', () => {
    const error = errorFromRecord(errorRecord(Object.assign(new TypeError('bad'), { status: 400, details: { field: 'x' } })));
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'TypeError', message: 'bad', status: 400, details: { field: 'x' } });
    expect(error.stack).toBe('TypeError: bad');
    expect(Object.keys(error)).not.toContain('stack');
  });

  it("rebuilds the library's errors as their classes, with their codes and statuses", () => {
    const timeout = errorFromRecord(errorRecord(new TaskTimeoutError(50)));
    expect(timeout).toBeInstanceOf(TaskTimeoutError);
    expect(timeout).toBeInstanceOf(AsyncApiError);
    expect(timeout).toMatchObject({ name: 'TaskTimeoutError', code: 'ERR_TASK_TIMEOUT', status: 504, expose: false, timeout: 50, title: 'Task timed out' });
    expect(timeout.message).toBe('The task did not finish within its timeout of 50 ms.');
    expect(errorFromRecord(errorRecord(new NoWorkerError(10)))).toBeInstanceOf(NoWorkerError);
  });

  it('keeps the properties of an error that crossed from a thread', () => {
    const original = Object.assign(new Error('x'), { status: 404, details: { id: 7 } });
    const shape = { ...toErrorShape(original), properties: { details: { id: 7 } } };
    expect(errorFromRecord(errorRecord(fromErrorShape(shape)))).toMatchObject({ status: 404, details: { id: 7 } });
  });
});

describe('problemFromError() and errorOfProblem()', () => {
  it('keeps a record with the problem only when given the key of an error handler', () => {
    const error = Object.assign(new Error('gone'), { status: 410, details: 1 });
    expect(problemFromError(error)).not.toHaveProperty('error');
    expect(problemFromError(error, 0)).toMatchObject({ status: 410, detail: 'gone', error: { message: 'gone', status: 410, properties: { details: 1 } } });
    expect(errorOfProblem(problemFromError(error, 0))).toMatchObject({ message: 'gone', status: 410, details: 1 });
  });

  it('rebuilds the error of a problem kept without a record from the problem: its status, detail and, for the library, code and class', () => {
    const shutDown = errorOfProblem(problemFromError(new ShuttingDownError()));
    expect(shutDown).toBeInstanceOf(ShuttingDownError);
    expect(shutDown).toMatchObject({ name: 'ShuttingDownError', code: 'ERR_SHUTTING_DOWN', status: 503, expose: false, message: 'The server is shutting down and accepts no new tasks.' });
    const crashed = errorOfProblem(problemFromError(new WorkerCrashedError('exit 3')));
    expect(crashed).toMatchObject({ code: 'ERR_WORKER_CRASHED', status: 500, title: 'Worker thread failed' });
    expect(errorOfProblem(problemFromError(Object.assign(new Error('no'), { status: 403 })))).toMatchObject({ name: 'Error', message: 'no', status: 403, expose: true });
    expect(errorOfProblem(canceledProblem)).toMatchObject({ code: 'ERR_TASK_CANCELED', status: 409 });
  });
});

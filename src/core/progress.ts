import { InvalidArgumentError } from './errors.js';
import { describe } from './options.js';

/** Checks the arguments of `progress()`, wherever the handler runs. */
export function checkProgress(fraction: unknown, message: unknown): void {
  if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
    throw new InvalidArgumentError(`progress() takes a fraction from 0 to 1, got ${describe(fraction)}`);
  }
  if (message !== undefined && typeof message !== 'string') {
    throw new InvalidArgumentError(`progress() takes a string message, got ${describe(message)}`);
  }
}

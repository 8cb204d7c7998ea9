import { basename, isAbsolute, relative } from 'node:path';

/** How a handler module is named in messages: relative to the working directory, not the whole server path. */
export function displayName(path: string): string {
  const fromHere = relative(process.cwd(), path);
  return fromHere && !fromHere.startsWith('..') && !isAbsolute(fromHere) ? fromHere : basename(path);
}

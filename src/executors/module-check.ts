import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { HandlerModuleError, InvalidArgumentError } from '../core/errors.js';
import { describe } from '../core/options.js';
import { displayName } from './module-name.js';

// Both lexers parse synchronously from their CommonJS builds, in either build of ours.
const require = createRequire(import.meta.url);
const esm = require('es-module-lexer') as typeof import('es-module-lexer');
const cjs = require('cjs-module-lexer') as typeof import('cjs-module-lexer');

/** The `file:` URL of a handler module, given as a URL, a `file:` URL string, or a path. */
export function moduleUrl(module: unknown): URL {
  if (module instanceof URL) {
    if (module.protocol !== 'file:') throw new InvalidArgumentError(`asyncApi.worker() takes a file: URL or a path, got ${module.href}`);
    return module;
  }
  if (typeof module !== 'string' || module === '') {
    throw new InvalidArgumentError(`asyncApi.worker() takes the URL or path of a handler module, got ${describe(module)}`);
  }
  return module.startsWith('file:') ? new URL(module) : pathToFileURL(module);
}

// The exports a module surely has, or undefined when its source cannot tell (it
// re-exports another module's, or the lexer cannot read it).
function knownExports(path: string, source: string): Set<string> | undefined {
  try {
    const [, exports, , hasModuleSyntax] = esm.parse(source);
    if (hasModuleSyntax || path.endsWith('.mjs')) {
      if (exports.some((entry) => entry.type === 'reexport-all')) return undefined;
      return new Set(exports.map((entry) => ('name' in entry ? entry.name : '')));
    }
    const found = cjs.parse(source);
    if (found.reexports.length > 0) return undefined;
    // module.exports is the default export of a CommonJS module.
    return new Set(['default', ...found.exports]);
  } catch {
    return undefined;
  }
}

/**
 * Refuses, when the route is wrapped, a handler module that is not there or that has
 * no such export, where its source tells. What it cannot tell, the task finds out.
 */
export function checkHandlerModule(url: URL, exportName: string): void {
  const path = fileURLToPath(url);
  const name = displayName(path);
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    // Not there: reported below.
  }
  if (!isFile) throw new HandlerModuleError(`There is no handler module at ${name} (${url.href}).`);
  const exports = knownExports(path, readFileSync(path, 'utf8'));
  if (exports !== undefined && !exports.has(exportName)) {
    const names = [...exports].filter(Boolean);
    throw new HandlerModuleError(
      `The handler module ${name} has no export "${exportName}"; it exports ${names.length ? names.join(', ') : 'nothing'}.`,
    );
  }
}

// The types as a TypeScript user meets them: the fixture projects of
// test/fixtures/typescript, checked by `tsc --noEmit` under `strict` against the package
// packed from a clean checkout, with Express 4's types and with Express 5's, under the
// module resolutions of Node (node16, nodenext) and of bundlers. Each fixture also holds
// lines that must not compile (`@ts-expect-error`), so a type that lets anything through
// fails too.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packCleanCheckout, root } from './pack.js';

const fixtures = join(root, 'test', 'fixtures', 'typescript');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

let consumer: string;

beforeAll(() => {
  ({ consumer } = packCleanCheckout());
}, 120_000);

afterAll(() => {
  rmSync(consumer, { recursive: true, force: true });
});

const expressTypes = [
  ['Express 5', '@types/express'],
  ['Express 4', '@types/express-v4'],
] as const;

const resolutions = [
  ['node16', { module: 'node16', moduleResolution: 'node16' }],
  ['nodenext', { module: 'nodenext', moduleResolution: 'nodenext' }],
  ['bundler', { module: 'esnext', moduleResolution: 'bundler' }],
] as const;

describe.each(expressTypes)('%s types', (_name, types) => {
  it.each(resolutions)('typecheck under strict, %s resolution', (name, resolution) => {
    // A project of its own: the fixtures, the package, and these Express types as
    // @types/express (its other types, @types/node, from the repository).
    const project = join(consumer, `${types.replace(/\W/g, '-')}-${name}`);
    mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
    cpSync(fixtures, project, { recursive: true });
    // A copy, not a link: its types must resolve express from this project.
    cpSync(join(consumer, 'node_modules', 'express-async-api'), join(project, 'node_modules', 'express-async-api'), { recursive: true });
    symlinkSync(join(root, 'node_modules', ...types.split('/')), join(project, 'node_modules', '@types', 'express'), 'dir');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { ...resolution, target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], esModuleInterop: true },
        include: readdirSync(fixtures),
      }),
    );
    const checked = (() => {
      try {
        return execFileSync(process.execPath, [tsc, '-p', project], { cwd: project, encoding: 'utf8' });
      } catch (error) {
        return (error as { stdout: string }).stdout;
      }
    })();
    expect(checked).toBe('');
  }, 60_000);
});

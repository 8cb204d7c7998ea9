// The package as `npm pack` makes it from a clean checkout: this tree's tracked files (and
// new ones git does not ignore), without dist/ or anything built, packed by npm, so its
// `prepack` builds it; then unpacked into a consumer's node_modules.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

export interface Packed {
  /** The consumer: a directory inside the repository with the package in its node_modules. */
  readonly consumer: string;
  /** The files in the tarball. */
  readonly files: string[];
}

/**
 * Copies a clean checkout of this tree into `checkout` (a new directory): what git tracks,
 * and new files it does not ignore; nothing built. Its node_modules is the repository's,
 * the same lockfile's dependencies as `npm ci` would install.
 */
export function cleanCheckout(checkout: string): void {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  for (const file of listed.split('\0')) {
    if (file === '' || file.startsWith('test/.pack-')) continue;
    mkdirSync(dirname(join(checkout, file)), { recursive: true });
    try {
      copyFileSync(join(root, file), join(checkout, file));
    } catch (error) {
      // Deleted in the working tree but not yet in git: not part of the checkout.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  symlinkSync(join(root, 'node_modules'), join(checkout, 'node_modules'), 'dir');
}

/** Packs a clean checkout into a new consumer directory under test/. Synchronous; seconds. */
export function packCleanCheckout(): Packed {
  const consumer = mkdtempSync(join(root, 'test', '.pack-'));
  const checkout = join(consumer, 'checkout');
  cleanCheckout(checkout);
  const output = execFileSync('npm', ['pack', '--json', '--pack-destination', consumer], { cwd: checkout, encoding: 'utf8' });
  const [packed] = JSON.parse(output.slice(output.search(/^\[/m))) as [{ filename: string; files: { path: string }[] }];
  const installed = join(consumer, 'node_modules', 'express-async-api');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', join(consumer, packed.filename), '-C', installed, '--strip-components=1']);
  return { consumer, files: packed.files.map((file) => file.path).sort() };
}

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { it } from 'vitest';

/**
 * Files some tests need from outside the repository: the `shared/` directory next to the
 * checkout (today Firecracker's API spec), or MVM_SHARED_DIR. Missing, a test skips loudly
 * on a workstation and fails under CI, where a silent skip would hide a broken runner.
 */
export const sharedDir = (): string =>
  process.env['MVM_SHARED_DIR'] ?? resolve(import.meta.dirname, '..', '..', '..', 'shared');

/** The file's path, or undefined after a `[skip]` line and a skipped test (under CI, a failing one). */
export function needSharedFile(name: string, suite: string): string | undefined {
  const path = join(sharedDir(), name);
  if (existsSync(path)) return path;
  const why = `needs ../shared/${name} (not found at ${path}; set MVM_SHARED_DIR to its directory)`;
  if (process.env['CI'] !== undefined) {
    it(`${suite}: ${why}`, () => {
      throw new Error(`${suite} ${why}; CI must provide it`);
    });
  } else {
    console.warn(`[skip] ${suite}: ${why}`);
    // A file with no test left fails vitest; the skip also shows in the run's summary.
    it.skip(`${suite}: ${why}`, () => undefined);
  }
  return undefined;
}

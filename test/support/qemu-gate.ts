/**
 * The gate of a test file that needs what a dev machine may lack (QEMU, root and the network
 * tools, Chromium...). Where something is missing, the file's suites skip loudly on a dev
 * machine (a warning and a skipped `title: why` in the summary); in CI a suite `title (CI)`
 * fails in their stead, naming what is missing, since a CI runner without it is broken.
 */
import { describe, it } from 'vitest';
import type { SuiteGate } from './gate.ts';
import { realGuestGate } from './qemu-guest.ts';

export type { SuiteGate } from './gate.ts';

/** The file runs when every gate is open; a closed one skips it, or in CI fails it. */
export function ciSuiteGate(title: string, gates: readonly SuiteGate[]): SuiteGate {
  const closed = gates.filter((gate) => !gate.run);
  const why = closed.map((gate) => gate.why).join('; ');
  const failInCi = closed.length > 0 && process.env['CI'] !== undefined;
  if (failInCi) {
    describe(`${title} (CI)`, () => {
      it(`${why} in CI`, () => {
        throw new Error(`${title}: this CI runner ${why}; CI must provide it`);
      });
    });
  } else if (closed.length > 0) {
    // A file with no test left fails vitest; the skip also shows in the run's summary.
    it.skip(`${title}: ${why}`, () => undefined);
  }
  return { run: closed.length === 0, failInCi, why };
}

/** QEMU, and the `others` gates already probed, for the real-guest suites of a file. */
export async function qemuSuiteGate(
  title: string,
  others: readonly SuiteGate[] = [],
): Promise<SuiteGate> {
  return ciSuiteGate(title, [await realGuestGate(title), ...others]);
}

/**
 * The gate of a real-guest test file: QEMU here or not (test/support/qemu-guest.ts). Where it
 * is missing, the file's suites skip on a dev machine; in CI a suite titled `ciTitle` fails in
 * their stead, since a CI runner without QEMU is broken.
 */
import { describe, it } from 'vitest';
import { realGuestGate } from './qemu-guest.ts';

export async function qemuSuiteGate(
  suite: string,
  ciTitle: string,
): Promise<{ run: boolean; failInCi: boolean }> {
  const gate = await realGuestGate(suite);
  if (gate.failInCi) {
    describe(ciTitle, () => {
      it('needs qemu-system-x86_64 in CI', () => {
        throw new Error('qemu-system-x86_64 is missing on this CI runner; install qemu-system-x86');
      });
    });
  }
  return gate;
}

import { reapStaleNamespaces } from '../../net/support/net-lab.ts';
import { gateOf, missingRootAndTools, type SuiteGate } from '../../support/gate.ts';
import { qemuAvailable } from '../../support/qemu-guest.ts';

/**
 * The two-node fleet needs root (namespaces, cgroups, tenant bridges), iproute2, nft and
 * QEMU. Skips loudly without them; under CI a missing one is a broken runner and fails.
 */
export async function fleetGate(suite: string): Promise<SuiteGate> {
  const missing = await missingRootAndTools({ ip: ['-V'], nft: ['--version'] });
  if (!(await qemuAvailable())) missing.push('qemu-system-x86_64 (install qemu-system-x86)');
  if (missing.length === 0) await reapStaleNamespaces();
  return gateOf(suite, missing);
}

import { reapStaleNamespaces, runner } from '../../net/support/net-lab.ts';
import { qemuAvailable } from '../../support/qemu-guest.ts';

export interface FleetGate {
  run: boolean;
  failInCi: boolean;
  why: string;
}

/**
 * The two-node fleet needs root (namespaces, cgroups, tenant bridges), iproute2, nft and
 * QEMU. Skips loudly without them; under CI a missing one is a broken runner and fails.
 */
export async function fleetGate(suite: string): Promise<FleetGate> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  for (const [tool, args] of [
    ['ip', ['-V']],
    ['nft', ['--version']],
  ] as const) {
    const result = await runner.run(tool, args, { check: false }).catch(() => undefined);
    if (result?.exitCode !== 0) missing.push(tool);
  }
  if (!(await qemuAvailable())) missing.push('qemu-system-x86_64 (install qemu-system-x86)');
  const why = missing.length === 0 ? '' : `needs ${missing.join(', ')}`;
  if (why === '') await reapStaleNamespaces();
  else {
    const where = process.env['CI'] ? 'CI requires it' : 'skipping';
    console.warn(`\n!!! ${suite}: ${why}; ${where}\n`);
  }
  return { run: why === '', failInCi: why !== '' && process.env['CI'] !== undefined, why };
}

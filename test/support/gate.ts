/**
 * A probe of what a test file needs from the host (QEMU, root, iproute2, nft, Chromium...):
 * what is missing, said loudly once; closed, the file skips on a dev machine and, through
 * `ciSuiteGate` (qemu-gate.ts), fails in CI.
 */
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';

/** One capability probed: `why` says what is missing (empty when `run`). */
export interface SuiteGate {
  run: boolean;
  failInCi: boolean;
  why: string;
}

/** The gate of `suite` given what is missing, warned about when anything is. */
export function gateOf(suite: string, missing: readonly string[]): SuiteGate {
  const why = missing.length === 0 ? '' : `needs ${missing.join(', ')}`;
  const inCi = process.env['CI'] !== undefined;
  if (why !== '') console.warn(`\n!!! ${suite}: ${why}; ${inCi ? 'CI requires it' : 'skipping'}\n`);
  return { run: why === '', failInCi: why !== '' && inCi, why };
}

const probeRunner = new NodeProcessRunner();

/** 'root' unless this process runs as root, then each tool whose probe does not exit 0. */
export async function missingRootAndTools(
  probes: Readonly<Record<string, readonly string[]>>,
): Promise<string[]> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  for (const [tool, args] of Object.entries(probes)) {
    const result = await probeRunner.run(tool, [...args], { check: false }).catch(() => undefined);
    if (result?.exitCode !== 0) missing.push(tool);
  }
  return missing;
}

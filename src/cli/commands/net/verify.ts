import { ConflictError } from '../../../core/errors.ts';
import { isOrphan, verifyNetwork } from '../../../core/net-invariants.ts';
import type { Violation } from '../../../core/net-invariants.ts';
import { LinuxNetworkDriver } from '../../../drivers/linux-net/linux-network-driver.ts';
import { NodeProcessRunner } from '../../../drivers/process/node-process-runner.ts';
import { defineCommand, option } from '../../command.ts';
import { text } from '../../values.ts';
import { localAgent } from '../agent/local-agent.ts';
import { loadDesiredNetwork } from './network-state-source.ts';

const describe = (v: Violation): string => `${v.code} ${v.subject}: ${v.message}`;

/**
 * Drift is reported as `conflict` (exit 5): the live kernel state contradicts the desired
 * state, which is what that code means. `host_failure` (exit 8) stays reserved for "could
 * not even read the kernel state" (a failing ip/nft), so scripts can tell the two apart.
 */
function driftError(violations: readonly Violation[]): ConflictError {
  const orphans = violations.filter(isOrphan).length;
  const faults = violations.length - orphans;
  return new ConflictError(
    `tenant network drift on this node: ${faults} violated invariant(s), ${orphans} orphan(s); re-apply the node's network state (restart the agent) and run 'mvm net verify' again`,
    { problems: violations.map(describe), violations },
  );
}

export const netVerify = defineCommand({
  path: ['net', 'verify'],
  description:
    "Check this node's live bridges, taps, VXLAN and nftables rules against its desired tenant network",
  args: {},
  options: {
    state: option(
      text('<file>'),
      'JSON file with the desired host network state (default: ask the local agent)',
    ),
    netns: option(
      text('<name>'),
      "inspect this network namespace instead of the root one (default: the agent's)",
    ),
  },
  output: 'data',
  async handler(ctx, _args, opts) {
    const { state: desired, netns } = await loadDesiredNetwork(
      opts.state === undefined
        ? { kind: 'agent', client: localAgent(ctx) }
        : { kind: 'file', path: opts.state },
    );
    const driver = new LinuxNetworkDriver({
      runner: new NodeProcessRunner(),
      netns: opts.netns ?? netns,
    });
    const violations = verifyNetwork(desired, await driver.observe());
    if (violations.length > 0) throw driftError(violations);
    const summary = `${desired.tenants.length} tenant network(s) and ${desired.instances.length} tap(s) match; no orphans`;
    return {
      data: { ok: true, violations: [] },
      human: [{ kind: 'text', text: `ok: ${summary}` }],
    };
  },
});

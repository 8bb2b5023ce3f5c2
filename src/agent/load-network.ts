import { LinuxNetworkDriver } from '../drivers/linux-net/linux-network-driver.ts';
import type { Logger } from '../ports/logger.ts';
import type { NetworkDriver } from '../ports/network.ts';
import type { ProcessRunner } from '../ports/process-runner.ts';
import { AgentNetwork } from './network/agent-network.ts';
import type { VmRepo } from './state/vm-repo.ts';

/** Where guests find their identity: the conventional link-local metadata address. */
export const DEFAULT_METADATA = { ip: '169.254.169.254', port: 80 } as const;

export interface NetworkChoice {
  /** Tenant networking wanted (config MVM_NETWORK); false turns it off. */
  enabled: boolean;
  /** A driver to use; null turns tenant networking off; default: the Linux driver. */
  driver?: NetworkDriver | null;
  /** Run the networking (and the VMMs) in this namespace instead of the root one. */
  netns?: string;
  /** null: no metadata endpoint; default: DEFAULT_METADATA, root namespace only. */
  metadata?: { ip: string; port: number } | null;
  /** This node's underlay address: tenants span nodes over VXLAN from it (see AgentNetwork). */
  underlayIp?: string;
}

/**
 * Picks the agent's tenant networking: off when configured so (MVM_NETWORK=off, or driver
 * null) or when not root (nothing here could create a bridge); otherwise the given driver or
 * the Linux one. The metadata endpoint is served in-process, so not for a namespaced agent.
 */
export function loadNetwork(
  choice: NetworkChoice,
  deps: { runner: ProcessRunner; vms: VmRepo; logger: Logger },
): AgentNetwork | undefined {
  if (choice.driver === null || !choice.enabled) {
    deps.logger.info({}, 'tenant networking off; VMMs create their own taps on no bridge');
    return undefined;
  }
  if (choice.driver === undefined && process.getuid?.() !== 0) {
    deps.logger.warn({}, 'tenant networking off: the agent is not root (or set MVM_NETWORK=off)');
    return undefined;
  }
  const driver =
    choice.driver ?? new LinuxNetworkDriver({ runner: deps.runner, netns: choice.netns });
  const metadata =
    choice.metadata === undefined
      ? choice.netns === undefined
        ? DEFAULT_METADATA
        : undefined
      : (choice.metadata ?? undefined);
  return new AgentNetwork({
    driver,
    vms: deps.vms,
    logger: deps.logger,
    ...(choice.netns !== undefined ? { netns: choice.netns } : {}),
    ...(metadata ? { metadata: { ...metadata } } : {}),
    ...(choice.underlayIp !== undefined ? { underlayIp: choice.underlayIp } : {}),
  });
}

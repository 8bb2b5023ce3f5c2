import { ValidationError } from '../../core/errors.ts';
import { bridgeName, netIdOfLinkName } from '../../core/naming.ts';
import { stateProblems } from '../../core/net-invariants.ts';
import { strayLinks } from '../../core/stray-links.ts';
import {
  buildRuleset,
  renderApplyScript,
  renderDeleteAllScript,
  renderTenantRemovalScript,
} from '../../core/nft-ruleset.ts';
import type {
  HostNetworkState,
  NetworkDriver,
  ObservedLink,
  ObservedNft,
  ObservedNetwork,
} from '../../ports/network.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { deleteLink, detachLink, ensureBridge, ensureTap, ensureVxlan } from './ensure-links.ts';
import { NetCommands } from './net-commands.ts';
import { observeNetwork } from './observe-network.ts';

export interface LinuxNetworkDriverOptions {
  runner: ProcessRunner;
  /** Run everything inside this network namespace (tests); the root namespace otherwise. */
  netns?: string;
}

/** Bridges, taps, VXLAN and nftables with iproute2 and `nft -f`, converging on a state. */
export class LinuxNetworkDriver implements NetworkDriver {
  private readonly cmd: NetCommands;

  constructor(options: LinuxNetworkDriverOptions) {
    this.cmd = new NetCommands(options.runner, options.netns);
  }

  observe(): Promise<ObservedNetwork> {
    return observeNetwork(this.cmd);
  }

  async apply(state: HostNetworkState): Promise<void> {
    const problems = stateProblems(state).map((p) => p.message);
    if (problems.length > 0)
      throw new ValidationError('the host network state is inconsistent', problems);
    // Rules first: a tap is never attached to its bridge before its anti-spoofing chain exists.
    const tables = buildRuleset(state);
    await this.cmd.nftScript(
      tables.length === 0 ? renderDeleteAllScript() : renderApplyScript(tables),
    );
    if (state.tenants.some((t) => t.egress)) await this.cmd.sysctl('net.ipv4.ip_forward', '1');
    const observed = await this.observe();
    const links = new Map(observed.links.map((l) => [l.name, l]));
    for (const t of state.tenants) await ensureBridge(this.cmd, t, state, links);
    for (const t of state.tenants.filter((x) => x.vxlanPeers.length > 0)) {
      await ensureVxlan(this.cmd, t, state, links, observed.fdb);
    }
    for (const i of state.instances) await ensureTap(this.cmd, i, links);
    await this.removeStrays(state, observed.links);
  }

  /** Deletes mvm-named links nobody owns; detaches (never deletes) foreign bridge ports. */
  private async removeStrays(
    state: HostNetworkState,
    links: readonly ObservedLink[],
  ): Promise<void> {
    const stray = strayLinks(state, links);
    const detach = new Set(stray.detach);
    // In the order strayLinks gives: ports before bridges. Detached ports hang off bridges
    // the state owns, which are never among the removed.
    for (const link of [...stray.remove, ...stray.detach]) {
      if (detach.has(link)) await detachLink(this.cmd, link);
      else await deleteLink(this.cmd, link);
    }
  }

  async teardownTenant(netId: number): Promise<void> {
    const observed = await this.observe();
    const bridge = bridgeName(netId);
    const mine = observed.links.filter(
      (l) => l.master === bridge || (netIdOfLinkName(l.name) === netId && l.name !== bridge),
    );
    for (const link of mine) {
      // Foreign ports are only let go; mvm-named ones are ours to delete.
      if (netIdOfLinkName(link.name) === netId) await deleteLink(this.cmd, link.name);
      else await detachLink(this.cmd, link.name);
    }
    if (observed.links.some((l) => l.name === bridge)) await deleteLink(this.cmd, bridge);
    await this.removeTenantRules(netId, observed.nft);
  }

  private async removeTenantRules(netId: number, live: ObservedNft): Promise<void> {
    const script = renderTenantRemovalScript(live, netId);
    if (script !== '') await this.cmd.nftScript(script);
    // With the last tenant gone only host-wide rules remain: remove the tables entirely.
    const others = live.rules.some(
      (r) => r.tag !== undefined && /^t\d+$/.test(r.tag) && r.tag !== `t${netId}`,
    );
    if (!others) await this.cmd.nftScript(renderDeleteAllScript());
  }
}

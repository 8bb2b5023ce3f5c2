import {
  armScript,
  disarmScript,
  forgetScripts,
  WAKE_SYN_COUNTER,
  WAKE_TABLE,
  wakeRulesScript,
  wakeTableScript,
  type TrapEntry,
} from '../../core/wake-trap.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { NetCommands } from './net-commands.ts';

/**
 * The device sleeping addresses are routed to, so the host answers ARP for them: one end of a
 * veth pair whose other end stays down, so what is routed there goes nowhere (a dummy device
 * would do, but not every host kernel has one).
 */
export const WAKE_DUMMY = 'mvm-wake0';
const WAKE_DUMMY_PEER = 'mvm-wake1';

/**
 * The wake trap in one network namespace (core/wake-trap.ts for the nftables side). A
 * sleeping guest answers no ARP, so a peer on its bridge would never even send the SYN: the
 * host answers for it. The kernel proxies ARP for an address only when its route leaves by
 * another device than the request came in on, so while asleep the address is routed to a
 * device that leads nowhere, with a proxy entry on the bridge (and no proxy delay); the redirect happens
 * in prerouting, before that route is ever used. Disarming removes all three.
 */
export class WakeTrapDriver {
  private readonly net: NetCommands;

  constructor(runner: ProcessRunner, netns?: string) {
    this.net = new NetCommands(runner, netns);
  }

  /** Creates the table, its rules (once: they are never deleted) and the dummy device. */
  async ensure(): Promise<void> {
    await this.net.nftScript(wakeTableScript());
    if (!hasTrapRule(await this.net.nftRuleset())) await this.net.nftScript(wakeRulesScript());
    const links = (await this.net.ipJson(['link', 'show'])) as Array<{ ifname?: string }>;
    if (!links.some((l) => l.ifname === WAKE_DUMMY)) {
      await this.net.ip([
        'link',
        'add',
        WAKE_DUMMY,
        'type',
        'veth',
        'peer',
        'name',
        WAKE_DUMMY_PEER,
      ]);
    }
    await this.net.ip(['link', 'set', WAKE_DUMMY, 'up']);
    await this.net.sysctl('net.ipv4.ip_forward', '1');
  }

  /** Traps a sleeping instance's address on its bridge, for its service ports. */
  async arm(bridge: string, ip: string, entries: readonly TrapEntry[]): Promise<void> {
    await this.net.sysctl(`net.ipv4.neigh.${bridge}.proxy_delay`, '0');
    await this.net.ip(['route', 'replace', `${ip}/32`, 'dev', WAKE_DUMMY]);
    await this.net.ip(['neigh', 'replace', 'proxy', ip, 'dev', bridge]);
    await this.net.nftScript(armScript(bridge, ip, entries));
  }

  /** Lets a woken instance's traffic through again; connections already held live on. */
  async disarm(bridge: string, ip: string, entries: readonly TrapEntry[]): Promise<void> {
    await this.net.nftScript(disarmScript(bridge, ip, entries));
    await this.net.ip(['neigh', 'del', 'proxy', ip, 'dev', bridge]).catch(() => undefined);
    await this.net.ip(['route', 'del', `${ip}/32`, 'dev', WAKE_DUMMY]).catch(() => undefined);
  }

  /**
   * Removes an address's trap whatever is left of it (a disarm after the agent restarted, or
   * before arming again): the elements one by one, absent ones skipped, then ARP and route.
   */
  async forget(bridge: string, ip: string, ports: readonly number[]): Promise<void> {
    for (const script of forgetScripts(bridge, ip, ports)) {
      await this.net.nftScript(script).catch(() => undefined);
    }
    await this.net.ip(['neigh', 'del', 'proxy', ip, 'dev', bridge]).catch(() => undefined);
    await this.net.ip(['route', 'del', `${ip}/32`, 'dev', WAKE_DUMMY]).catch(() => undefined);
  }

  /** SYNs dropped by the fallback rule so far. */
  async droppedSyns(): Promise<number> {
    for (const item of itemsOf(await this.net.nftRuleset())) {
      const counter = item['counter'] as
        { name?: string; table?: string; packets?: number } | undefined;
      if (counter?.name === WAKE_SYN_COUNTER && counter.table === WAKE_TABLE) {
        return counter.packets ?? 0;
      }
    }
    return 0;
  }
}

function itemsOf(ruleset: unknown): Array<Record<string, unknown>> {
  const list = (ruleset as { nftables?: unknown }).nftables;
  return Array.isArray(list) ? (list as Array<Record<string, unknown>>) : [];
}

/** Whether the trap chain has its rule already: the rules are added once, never deleted. */
function hasTrapRule(ruleset: unknown): boolean {
  return itemsOf(ruleset).some((item) => {
    const rule = item['rule'] as { table?: string; chain?: string } | undefined;
    return rule?.table === WAKE_TABLE && rule.chain === 'trap';
  });
}

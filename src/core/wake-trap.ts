/**
 * The host's wake trap for sleeping instances, as nft scripts (pure). One table, `inet
 * mvm_wake`, whose rules are written once and never deleted: arming and disarming an instance
 * only changes set and map elements. Removing the redirect rule itself while a held
 * connection was in flight broke that connection 4 times out of 4 (research note §3.2); with
 * the rule kept and only the element removed, the held connection lived 3 of 3.
 *
 * - `holding` maps (incoming interface . sleeping address . service port) to the port of the
 *   node's holding listener for that pair: a TCP SYN matching it is redirected there (the
 *   listener accepts at once, wakes the instance, then splices the connection to it). The
 *   interface is the instance's tenant bridge, so only its own tenant's traffic is trapped;
 *   another tenant's SYN finds no element, is not redirected and meets the cross-tenant deny.
 * - `sleeping` holds the sleeping addresses, each with its tenant bridge: a SYN to one from its
 *   own bridge on any other port is dropped and counted (`wake_syn`), the fallback whose client
 *   retries after its SYN retransmit (~1 s).
 *   ICMP, UDP and anything but a bare SYN match neither rule: they never wake anything.
 */
import { ValidationError } from './errors.ts';

export const WAKE_TABLE = 'mvm_wake';
export const WAKE_SYN_COUNTER = 'wake_syn';

/** One trapped (address, port) of a sleeping instance, on its tenant's bridge. */
export interface TrapEntry {
  bridge: string;
  ip: string;
  port: number;
  /** The node's holding listener for this pair (on the host, any address). */
  listenPort: number;
}

const SYN_ONLY = 'tcp flags & (fin | syn | rst | ack) == syn';
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ValidationError(`${what} ${port} is not a TCP port`, [`${what} ${port}`]);
  }
}

function checkAddress(bridge: string, ip: string): void {
  if (!IFNAME.test(bridge)) {
    throw new ValidationError(`'${bridge}' is not an interface name`, [bridge]);
  }
  if (!IPV4.test(ip)) throw new ValidationError(`'${ip}' is not IPv4`, [ip]);
}

function checkEntry(entry: TrapEntry): void {
  checkAddress(entry.bridge, entry.ip);
  checkPort(entry.port, 'service port');
  checkPort(entry.listenPort, 'holding port');
}

/**
 * The table, created once per network namespace. Re-running it is harmless (`add` of existing
 * objects does nothing), so a restarted agent runs it again before re-arming.
 */
export function wakeTableScript(): string {
  return [
    `add table inet ${WAKE_TABLE}`,
    `add set inet ${WAKE_TABLE} sleeping { type ifname . ipv4_addr; }`,
    `add map inet ${WAKE_TABLE} holding { type ifname . ipv4_addr . inet_service : inet_service; }`,
    `add counter inet ${WAKE_TABLE} ${WAKE_SYN_COUNTER}`,
    // Before any dnat of mvm's own (metadata), so a trapped SYN is redirected first.
    `add chain inet ${WAKE_TABLE} trap { type nat hook prerouting priority dstnat - 10; policy accept; }`,
    `add chain inet ${WAKE_TABLE} fallback { type filter hook forward priority filter - 10; policy accept; }`,
  ].join('\n');
}

/** The two rules, added only when the chains are empty (the caller checks; never deleted). */
export function wakeRulesScript(): string {
  return [
    `add rule inet ${WAKE_TABLE} trap iifname . ip daddr @sleeping ${SYN_ONLY} redirect to : iifname . ip daddr . tcp dport map @holding`,
    `add rule inet ${WAKE_TABLE} fallback iifname . ip daddr @sleeping ${SYN_ONLY} counter name ${WAKE_SYN_COUNTER} drop`,
  ].join('\n');
}

function holdingElement(entry: TrapEntry): string {
  return `"${entry.bridge}" . ${entry.ip} . ${entry.port} : ${entry.listenPort}`;
}

/**
 * Arms one sleeping instance: its address joins `sleeping` and each of its ports gets a
 * holding element. Holding elements first, so the address never traps without them.
 */
export function armScript(bridge: string, ip: string, entries: readonly TrapEntry[]): string {
  checkAddress(bridge, ip);
  entries.forEach(checkEntry);
  const lines = entries.map(
    (e) => `add element inet ${WAKE_TABLE} holding { ${holdingElement(e)} }`,
  );
  lines.push(`add element inet ${WAKE_TABLE} sleeping { "${bridge}" . ${ip} }`);
  return lines.join('\n');
}

/**
 * Disarms a woken instance: its address leaves `sleeping` first (no new SYN is trapped), then
 * its holding elements go. Connections already redirected live on in conntrack.
 */
export function disarmScript(bridge: string, ip: string, entries: readonly TrapEntry[]): string {
  checkAddress(bridge, ip);
  entries.forEach(checkEntry);
  return [
    `delete element inet ${WAKE_TABLE} sleeping { "${bridge}" . ${ip} }`,
    ...entries.map((e) => `delete element inet ${WAKE_TABLE} holding { ${holdingElement(e)} }`),
  ].join('\n');
}

/**
 * Removes whatever an earlier agent left armed for an address and its ports, one element per
 * script so each may fail alone (absent is fine): a re-arm after a kill -9 maps the ports to
 * new holding listeners, and nftables refuses to add a map key that is already there.
 */
export function forgetScripts(bridge: string, ip: string, ports: readonly number[]): string[] {
  checkAddress(bridge, ip);
  ports.forEach((port) => checkPort(port, 'service port'));
  return [
    `delete element inet ${WAKE_TABLE} sleeping { "${bridge}" . ${ip} }`,
    ...ports.map(
      (port) => `delete element inet ${WAKE_TABLE} holding { "${bridge}" . ${ip} . ${port} }`,
    ),
  ];
}

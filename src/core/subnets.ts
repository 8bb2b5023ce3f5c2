import { ConflictError, errorMessage, ValidationError } from './errors.ts';
import {
  cidrLast,
  containsAddress,
  containsCidr,
  formatCidr,
  formatIpv4,
  overlaps,
  parseCidr,
  parseIpv4,
} from './ipv4.ts';
import type { Cidr } from './ipv4.ts';

export const DEFAULT_CLUSTER_CIDR = '10.240.0.0/12';
/** Net ids double as VXLAN VNIs and bridge-name suffixes; 4096 tenants is the design's ceiling. */
export const MAX_NET_ID = 4095;
const TENANT_PREFIX = 24;
const TENANT_SIZE = 256;

export interface TenantNetwork {
  netId: number;
  /** e.g. 10.240.99.0/24 */
  subnet: string;
  /** The .1 address of the subnet. */
  gateway: string;
}

export interface TakenNetwork {
  netId: number;
  subnet: string;
  /** Named in conflict messages when known. */
  tenantId?: string;
}

export interface AllocateTenantNetworkInput {
  clusterCidr?: string;
  taken: readonly TakenNetwork[];
  requestedNetId?: number;
  requestedSubnet?: string;
}

function invalid(problem: string): ValidationError {
  return new ValidationError(problem, [problem]);
}

/** A cluster CIDR must hold at least one tenant /24. */
export function parseClusterCidr(text: string): Cidr {
  const cidr = parseCidr(text);
  if (cidr.prefix > TENANT_PREFIX) {
    throw invalid(
      `cluster CIDR '${text}' is smaller than one tenant /24; use a prefix of /24 or shorter, e.g. ${DEFAULT_CLUSTER_CIDR}`,
    );
  }
  return cidr;
}

export function validateClusterCidr(text: string): string {
  return formatCidr(parseClusterCidr(text));
}

function maxNetIdIn(cluster: Cidr): number {
  return Math.min(MAX_NET_ID, 2 ** (TENANT_PREFIX - cluster.prefix) - 1);
}

function netIdProblem(netId: number, cluster: Cidr): string | undefined {
  const max = maxNetIdIn(cluster);
  if (Number.isInteger(netId) && netId >= 0 && netId <= max) return undefined;
  return `net id ${netId} is out of range; the cluster ${formatCidr(cluster)} has net ids 0-${max}`;
}

function subnetIn(cluster: Cidr, netId: number): Cidr {
  return { network: cluster.network + netId * TENANT_SIZE, prefix: TENANT_PREFIX };
}

function subnetProblem(text: string, cluster: Cidr): string | undefined {
  let subnet: Cidr;
  try {
    subnet = parseCidr(text);
  } catch (error) {
    return errorMessage(error);
  }
  if (subnet.prefix !== TENANT_PREFIX) {
    return `subnet '${text}' must be a /24: every tenant gets exactly one /24`;
  }
  const clusterText = formatCidr(cluster);
  if (!containsCidr(cluster, subnet)) {
    return `subnet '${text}' is outside the cluster CIDR ${clusterText}; pick a /24 inside it`;
  }
  const max = maxNetIdIn(cluster);
  if (netIdOf(subnet, cluster) > max) {
    const last = formatCidr(subnetIn(cluster, max));
    return `subnet '${text}' is beyond the last tenant subnet ${last} of ${clusterText}; pick a lower one`;
  }
  return undefined;
}

function netIdOf(subnet: Cidr, cluster: Cidr): number {
  return (subnet.network - cluster.network) / TENANT_SIZE;
}

export function isAddressInCidr(cidr: string, ip: string): boolean {
  return containsAddress(parseCidr(cidr), parseIpv4(ip));
}

interface ParsedTaken {
  entry: TakenNetwork;
  subnet: Cidr;
}

function describeTaken(entry: TakenNetwork): string {
  const owner = entry.tenantId === undefined ? 'another tenant' : `tenant '${entry.tenantId}'`;
  return `${owner} (net id ${entry.netId}, ${entry.subnet})`;
}

function conflict(what: string, holder: TakenNetwork): ConflictError {
  return new ConflictError(
    `${what} is already used by ${describeTaken(holder)}; pick another or omit it to get the lowest free one`,
    { netId: holder.netId, subnet: holder.subnet, tenantId: holder.tenantId },
  );
}

function findHolder(taken: readonly ParsedTaken[], netId: number, subnet: Cidr) {
  return taken.find((t) => t.entry.netId === netId || overlaps(t.subnet, subnet))?.entry;
}

/** Net ids a taken network occupies: its own, plus every cluster /24 its subnet overlaps. */
function blockedNetIds(cluster: Cidr, taken: readonly ParsedTaken[]): Set<number> {
  const max = maxNetIdIn(cluster);
  const blocked = new Set<number>();
  for (const { entry, subnet } of taken) {
    blocked.add(entry.netId);
    const first = Math.max(0, Math.floor((subnet.network - cluster.network) / TENANT_SIZE));
    const last = Math.min(max, Math.floor((cidrLast(subnet) - cluster.network) / TENANT_SIZE));
    for (let netId = first; netId <= last; netId += 1) blocked.add(netId);
  }
  return blocked;
}

function lowestFree(cluster: Cidr, taken: readonly ParsedTaken[]): number {
  const max = maxNetIdIn(cluster);
  const blocked = blockedNetIds(cluster, taken);
  for (let netId = 0; netId <= max; netId += 1) {
    if (!blocked.has(netId)) return netId;
  }
  throw new ConflictError(
    `no free tenant subnet: all ${max + 1} net ids of the cluster ${formatCidr(cluster)} are in use; delete unused tenants or widen the cluster CIDR`,
    { clusterCidr: formatCidr(cluster), capacity: max + 1 },
  );
}

function requestedNetIdFor(input: AllocateTenantNetworkInput, cluster: Cidr): number | undefined {
  const { requestedNetId, requestedSubnet } = input;
  const problems = [
    requestedNetId === undefined ? undefined : netIdProblem(requestedNetId, cluster),
    requestedSubnet === undefined ? undefined : subnetProblem(requestedSubnet, cluster),
  ].filter((problem): problem is string => problem !== undefined);
  if (problems.length > 0) {
    throw new ValidationError(`invalid tenant network request: ${problems.join('; ')}`, problems);
  }
  const fromSubnet =
    requestedSubnet === undefined ? undefined : netIdOf(parseCidr(requestedSubnet), cluster);
  if (requestedNetId !== undefined && fromSubnet !== undefined && requestedNetId !== fromSubnet) {
    const mapped = formatCidr(subnetIn(cluster, requestedNetId));
    throw invalid(
      `net id ${requestedNetId} maps to ${mapped}, not ${requestedSubnet}; pass only one of them or make them agree`,
    );
  }
  return requestedNetId ?? fromSubnet;
}

/**
 * Picks a tenant's /24. With nothing requested it takes the lowest free net id; a requested
 * net id or subnet is validated and checked against every taken network.
 */
export function allocateTenantNetwork(input: AllocateTenantNetworkInput): TenantNetwork {
  const cluster = parseClusterCidr(input.clusterCidr ?? DEFAULT_CLUSTER_CIDR);
  const taken = input.taken.map((entry) => ({ entry, subnet: parseCidr(entry.subnet) }));
  const requested = requestedNetIdFor(input, cluster);
  const netId = requested ?? lowestFree(cluster, taken);
  const subnet = subnetIn(cluster, netId);
  const holder = findHolder(taken, netId, subnet);
  if (holder) {
    const text = formatCidr(subnet);
    const what =
      input.requestedSubnet === undefined ? `net id ${netId} (${text})` : `subnet ${text}`;
    throw conflict(what, holder);
  }
  return { netId, subnet: formatCidr(subnet), gateway: formatIpv4(subnet.network + 1) };
}

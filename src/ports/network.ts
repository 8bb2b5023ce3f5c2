/**
 * The host network port, desired-state style: the agent says what the node's tenant
 * networks must look like, the driver makes the kernel match (idempotently), and `observe`
 * reads the live kernel state back so `verify` can prove the invariants without trusting
 * the driver's own memory.
 */

export interface TenantNetSpec {
  netId: number;
  /** The tenant's /24, e.g. 10.240.5.0/24. */
  subnet: string;
  /** The .1 address, put on the tenant bridge on every node. */
  gateway: string;
  /** Whether guests may reach the outside world through the host (masqueraded). */
  egress: boolean;
  /** Underlay IPs of the other nodes carrying this tenant; empty means no VXLAN device. */
  vxlanPeers: readonly string[];
}

export interface InstanceNetSpec {
  tenantNetId: number;
  /** The host end of the guest's NIC: a persistent tap (or, in tests, a veth end). */
  tap: string;
  ip: string;
  mac: string;
}

/** A host service guests of every tenant may reach on the host, and nothing else. */
export interface HostServices {
  /** The metadata endpoint, e.g. 169.254.169.254:80; the address is put on each bridge. */
  metadata?: { ip: string; port: number };
  /** Whether a DNS forwarder answers on each tenant's gateway address (port 53). */
  dns?: boolean;
}

export interface HostNetworkState {
  tenants: readonly TenantNetSpec[];
  instances: readonly InstanceNetSpec[];
  /** This node's underlay address: the VXLAN source; required when any tenant has peers. */
  underlayIp?: string;
  /** MTU of every VXLAN device: the underlay's less the encapsulation; unset = kernel's choice. */
  vxlanMtu?: number;
  services?: HostServices;
}

export interface ObservedLink {
  name: string;
  /** `bridge`, `vxlan`, `tun`, `veth`, ... (undefined for plain devices). */
  kind: string | undefined;
  /** The bridge this link is a port of, if any. */
  master: string | undefined;
  mac: string;
  /** Administratively up (the UP flag), not carrier. */
  up: boolean;
  /** IPv4 addresses as CIDRs, e.g. 10.240.5.1/24. */
  addresses: readonly string[];
  mtu?: number;
  vxlan?: { id: number; local: string | undefined; port: number; learning: boolean };
}

export interface ObservedFdbEntry {
  dev: string;
  mac: string;
  dst: string | undefined;
}

/**
 * A rule as read back from the kernel: its matches and verdict in the words mvm's ruleset
 * model uses (`iifname br-tenant-5 ; ip saddr 10.240.5.0/24 ; accept # t5`), so a rule
 * that was altered in place no longer matches what mvm wrote.
 */
export interface ObservedNftRule {
  family: string;
  table: string;
  chain: string;
  handle: number | undefined;
  /** The rule's comment: mvm tags every rule with its tenant (`t5`) or `host`. */
  tag: string | undefined;
  signature: string;
}

export interface ObservedNftChain {
  family: string;
  table: string;
  name: string;
  /** `forward type filter hook forward priority 0 policy accept`, or the bare name. */
  signature: string;
}

export interface ObservedNft {
  tables: ReadonlyArray<{ family: string; name: string }>;
  chains: readonly ObservedNftChain[];
  rules: readonly ObservedNftRule[];
}

export interface ObservedNetwork {
  links: readonly ObservedLink[];
  /** Forwarding entries of mvm's VXLAN devices only. */
  fdb: readonly ObservedFdbEntry[];
  /** The mvm_* tables of `nft -j list ruleset`, normalised to rule signatures. */
  nft: ObservedNft;
  /** `net.ipv4.ip_forward` in the driver's namespace. */
  ipForward: boolean;
}

export interface NetworkDriver {
  /** Makes the node match `state`; removes mvm-named links the state does not own. */
  apply(state: HostNetworkState): Promise<void>;
  /** Removes one tenant's bridge, taps, VXLAN device and rules; a no-op when absent. */
  teardownTenant(netId: number): Promise<void>;
  observe(): Promise<ObservedNetwork>;
}

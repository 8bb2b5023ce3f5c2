/**
 * The node's desired tenant network, derived from the agent's VM records: every record with
 * a tenant network owns a tap on its tenant's bridge (whatever its status, so a sleeping or
 * stopped instance keeps its tap and wakes onto it); a tenant with no record left on this
 * node has no bridge, no VXLAN device and no rules here. Which other nodes carry a tenant is
 * not in the records: it comes from the desired document, as VXLAN peers by net id.
 */
import { tapName } from '../../core/naming.ts';
import type { StoredSpec } from '../../contract/agent-api.ts';
import type { NodeDesired } from '../../contract/desired.ts';
import type {
  HostNetworkState,
  HostServices,
  InstanceNetSpec,
  TenantNetSpec,
} from '../../ports/network.ts';
import type { InstanceIdentity } from '../metadata-server.ts';
import type { VmRecord } from '../state/vm-repo.ts';

/** `mvt<netId>-<hostOctet>` for a spec with a tenant network; undefined without one. */
export function tenantTapName(spec: Pick<StoredSpec, 'ip' | 'tenant'>): string | undefined {
  if (!spec.tenant) return undefined;
  return tapName(spec.tenant.netId, Number(spec.ip.split('.')[3]));
}

const onTenantNet = (r: VmRecord): boolean => r.spec.tenant !== undefined && r.spec.network;

/** What the node adds to its records. */
export interface NodeNetworkContext {
  services?: HostServices;
  /** The VXLAN source address; without it no tenant gets a VXLAN device. */
  underlayIp?: string;
  /** VXLAN peers by tenant net id (peersByNetId of the current document). */
  peers?: ReadonlyMap<number, readonly string[]>;
  vxlanMtu?: number;
}

/** Each tenant's VXLAN peers in a desired document, keyed by its net id. */
export function peersByNetId(document: NodeDesired): Map<number, readonly string[]> {
  return new Map(document.tenants.map((t) => [t.netId, t.vxlanPeers]));
}

export function desiredNetwork(
  records: readonly VmRecord[],
  context: NodeNetworkContext = {},
): HostNetworkState {
  const { services, underlayIp, vxlanMtu } = context;
  const peersOf = (netId: number): string[] =>
    underlayIp === undefined ? [] : [...(context.peers?.get(netId) ?? [])];
  const tenants = new Map<number, TenantNetSpec>();
  const instances: InstanceNetSpec[] = [];
  for (const { spec } of records.filter(onTenantNet)) {
    const t = spec.tenant;
    if (!t) continue;
    const known = tenants.get(t.netId);
    tenants.set(t.netId, {
      netId: t.netId,
      subnet: t.subnet,
      gateway: t.gateway,
      // Egress is a tenant setting; one instance asking for it is the tenant asking.
      egress: t.egress || (known?.egress ?? false),
      vxlanPeers: peersOf(t.netId),
    });
    instances.push({ tenantNetId: t.netId, tap: spec.tap, ip: spec.ip, mac: spec.mac });
  }
  return {
    tenants: [...tenants.values()].sort((a, b) => a.netId - b.netId),
    instances,
    ...(underlayIp !== undefined ? { underlayIp } : {}),
    ...(underlayIp !== undefined && vxlanMtu !== undefined ? { vxlanMtu } : {}),
    ...(services ? { services } : {}),
  };
}

/** Who holds each tenant IP on this node, for the metadata endpoint. */
export function identitiesOf(records: readonly VmRecord[]): Map<string, InstanceIdentity> {
  return new Map(
    records.filter(onTenantNet).map((r) => [
      r.spec.ip,
      {
        tenant: r.tenantId,
        pool: r.poolId,
        instance: r.instanceId,
        ip: r.spec.ip,
        revision: r.spec.revision,
      },
    ]),
  );
}

/**
 * The node's desired tenant network, derived from the agent's VM records alone: every
 * record with a tenant network owns a tap on its tenant's bridge (whatever its status, so a
 * sleeping or stopped instance keeps its tap and wakes onto it); a tenant with no record left
 * on this node has no bridge, no VXLAN device and no rules here.
 */
import { tapName } from '../../core/naming.ts';
import type { StoredSpec } from '../../contract/agent-api.ts';
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

export function desiredNetwork(
  records: readonly VmRecord[],
  services?: HostServices,
): HostNetworkState {
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
      vxlanPeers: [],
    });
    instances.push({ tenantNetId: t.netId, tap: spec.tap, ip: spec.ip, mac: spec.mac });
  }
  return {
    tenants: [...tenants.values()].sort((a, b) => a.netId - b.netId),
    instances,
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

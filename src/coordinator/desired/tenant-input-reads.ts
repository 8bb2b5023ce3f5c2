import { groupBy, type PoolWorkload } from '../../core/desired-doc.ts';
import type { Pool } from '../../core/model.ts';
import { roleHasDrive } from '../../core/roles.ts';
import { effectiveSecrets } from '../../core/secrets.ts';
import type { PoolConfigRecord, SealedSecret, Store, TenantRecord } from '../../ports/store.ts';
import { secretsDigest } from '../secrets/secret-digest.ts';

/**
 * What a node's document needs of one tenant, whatever node lists it. Made once per read and
 * never changed: a kept one that is the same object holds the same inputs.
 */
export interface TenantInputs {
  tenant: TenantRecord;
  pools: Pool[];
  /** Each pool's secrets digest and config, by `tenant/pool`. */
  workloads: Map<string, PoolWorkload>;
  /** The nodes holding its live instances (its VXLAN peers). */
  nodeIds: readonly string[];
  /** Its pools' ids, to see an instance of a pool created since. */
  poolIds: ReadonlySet<string>;
}

/**
 * One read per kind for all these tenants, not one per tenant: a node may hold hundreds. The
 * five go out together on one connection (Store.reads), run in this order, one round trip.
 */
export async function readTenants(store: Store, ids: readonly string[]): Promise<TenantInputs[]> {
  if (ids.length === 0) return [];
  const [tenants, poolRows, secretRows, configRows, nodeRows] = await store.reads((repos) =>
    Promise.all([
      repos.tenants.list({ ids }),
      repos.pools.list({ tenantIds: ids }),
      repos.secrets.ofTenants(ids),
      repos.poolConfigs.ofTenants(ids),
      // Where their VXLAN must reach: the nodes holding their live instances, aggregated in
      // the store from its per-node allocations rather than read instance by instance.
      repos.nodes.tenantNodes(ids),
    ]),
  );
  const pools = groupBy(poolRows, (p) => p.tenantId);
  const secrets = groupBy(secretRows, (s) => s.tenantId);
  const configs = groupBy(configRows, (c) => c.tenantId);
  const held = new Map(nodeRows.map((t) => [t.tenantId, t.nodeIds]));
  return tenants.map((tenant) => {
    const own = pools.get(tenant.id) ?? [];
    return {
      tenant,
      pools: own,
      workloads: workloadsOf(own, secrets.get(tenant.id) ?? [], configs.get(tenant.id) ?? []),
      nodeIds: held.get(tenant.id) ?? [],
      poolIds: new Set(own.map((p) => p.id)),
    };
  });
}

/** Each pool's secrets digest (names and versions only) and config, by `tenant/pool`. */
function workloadsOf(
  pools: readonly Pool[],
  secrets: readonly SealedSecret[],
  configs: readonly PoolConfigRecord[],
): Map<string, PoolWorkload> {
  const configOf = new Map(configs.map((c) => [c.poolId, c]));
  return new Map(
    pools.map((pool): [string, PoolWorkload] => {
      const config = configOf.get(pool.id);
      const withSecrets = roleHasDrive(pool.role, 'secrets');
      return [
        `${pool.tenantId}/${pool.id}`,
        {
          secretsDigest: withSecrets ? secretsDigest(effectiveSecrets(secrets, pool.id)) : null,
          config: config ? { version: config.version, files: config.files } : null,
        },
      ];
    }),
  );
}

import type { Store } from '../../src/ports/store.ts';

/**
 * Everything a request could change, read straight from the store: a refused request must
 * leave it identical. Tokens keep only what a request may not alter (their use may be
 * recorded), and join tokens have no list, so their effect shows in the audit log.
 */
export async function storeSnapshot(store: Store, nodeIds: readonly string[] = []) {
  const tokens = await store.tokens.list();
  const tenants = await store.tenants.list();
  const secrets = [];
  const poolConfigs = [];
  for (const tenant of tenants) {
    secrets.push(...(await store.secrets.list(tenant.id)));
    poolConfigs.push(...(await store.poolConfigs.list(tenant.id)));
  }
  const certificates = [];
  const reports = [];
  for (const id of nodeIds) {
    certificates.push(...(await store.nodeCertificates.list(id)));
    reports.push(await store.nodeReports.get(id));
  }
  return {
    tenants,
    pools: await store.pools.list(),
    instances: await store.instances.list(),
    nodes: await store.nodes.list(),
    tokens: tokens.map(({ id, hash, tenantId, name, revokedAt }) => ({
      id,
      hash,
      tenantId,
      name,
      revokedAt,
    })),
    certificates,
    reports,
    secrets,
    poolConfigs,
    jobs: await store.jobs.list({ limit: 1_000_000 }),
    rollouts: await store.rollouts.active(),
    audit: (await store.audit.list({ limit: 1_000_000 })).length,
  };
}

export type StoreSnapshot = Awaited<ReturnType<typeof storeSnapshot>>;

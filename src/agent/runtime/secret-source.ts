import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';

/**
 * Where an instance's secret values come from when the coordinator holds them: fetched at each
 * start and wake, handed to the secrets drive builder and kept nowhere else (not in the agent's
 * database, not in its logs).
 */
export interface SecretSource {
  fetch(pool: { tenantId: string; poolId: string }): Promise<Record<string, string>>;
}

/** The coordinator's node route, over this agent's own link (mTLS when joined). */
export function coordinatorSecrets(api: ApiClient, nodeId: string): SecretSource {
  return {
    async fetch({ tenantId, poolId }) {
      const bundle = await api.call('nodeSecrets', {
        params: { node: nodeId, tenant: tenantId, pool: poolId },
      });
      return bundle.values;
    },
  };
}

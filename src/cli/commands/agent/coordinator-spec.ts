import type { PutInstanceBody } from '../../../contract/agent-api.ts';
import type { LocalRef } from '../../agent-client.ts';
import type { CommandContext } from '../../command.ts';

/**
 * The coordinator owns identity (IP, MAC) and the pool's shape; when it is reachable the
 * local agent gets the spec from there. Unreachable (or no token) means: use what the agent
 * has stored. Returns undefined in that case.
 */
export async function specFromCoordinator(
  ctx: CommandContext,
  ref: LocalRef,
): Promise<PutInstanceBody | undefined> {
  try {
    const client = ctx.client();
    const params = { tenant: ref.tenantId, pool: ref.poolId };
    const [instance, pool, tenant] = await Promise.all([
      client.call('getInstance', { params: { ...params, instance: ref.instanceId } }),
      client.call('getPool', { params }),
      client.call('getTenant', { params: { tenant: ref.tenantId } }),
    ]);
    const prefix = Number(tenant.subnet.split('/')[1] ?? 24);
    return {
      spec: {
        role: pool.role,
        vcpus: pool.vcpus,
        memMib: pool.memMib,
        dataDiskMib: pool.dataDiskMib,
        ip: instance.ip,
        prefixLength: prefix,
        gateway: tenant.gateway,
        mac: instance.mac,
        revision: instance.revision ?? pool.revision ?? 'dev',
        network: true,
      },
    };
  } catch {
    return undefined;
  }
}

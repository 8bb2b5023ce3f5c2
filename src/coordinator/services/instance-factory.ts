import { effectiveRevision } from '../../core/revision.ts';
import { allocateInstanceAddress } from '../../core/addresses.ts';
import { newInstanceId } from '../../core/materializer.ts';
import type { DesiredStatus, Instance, Pool } from '../../core/model.ts';
import type { Repos, TenantRecord } from '../../ports/store.ts';
import type { ServiceDeps } from './context.ts';

/**
 * Creates instance records with identity allocated here, centrally: id, IP and MAC are
 * stable for the instance's life and freed only when it is destroyed.
 */
export async function createInstances(
  repos: Repos,
  deps: ServiceDeps,
  tenant: TenantRecord,
  pool: Pool,
  desired: readonly DesiredStatus[],
  existingIds: readonly string[],
): Promise<Instance[]> {
  const created: Instance[] = [];
  // Most scales create nothing (they move desired statuses): then the tenant's IPs are unread.
  if (desired.length === 0) return created;
  const ids = new Set(existingIds);
  const usedIps = await repos.instances.usedIps(tenant.id);
  const at = deps.clock.now().toISOString();
  for (const desiredStatus of desired) {
    const id = newInstanceId(pool.id, ids, deps.randomSuffix());
    const address = allocateInstanceAddress({
      subnet: tenant.subnet,
      netId: tenant.netId,
      usedIps,
    });
    const instance: Instance = {
      tenantId: tenant.id,
      poolId: pool.id,
      id,
      ip: address.ip,
      mac: address.mac,
      status: 'created',
      desiredStatus,
      nodeId: null,
      // What its node boots it with: the pool's revision, or the node's dev image.
      revision: effectiveRevision(pool.revision),
      failureReason: null,
      statusSince: at,
      lastActiveAt: null,
      pressureSleptAt: null,
      idleSlot: null,
      createdAt: at,
      updatedAt: at,
      version: 1,
    };
    await repos.instances.insert(instance);
    ids.add(id);
    usedIps.push(address.ip);
    created.push(instance);
  }
  return created;
}

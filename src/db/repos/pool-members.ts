import type { Kysely, Selectable } from 'kysely';
import { idleSlots } from '../../core/idle-policy.ts';
import { desiredStatuses, instanceStatuses } from '../../core/model.ts';
import type { PoolMember } from '../../ports/store.ts';
import { oneOf } from '../row-values.ts';
import type { Database, InstancesTable } from '../schema.ts';

/**
 * A pool's instances as a change of its intent weighs them (the materializer, the quota
 * check, the compare-and-set writes, the raises' room): only those columns, by the primary
 * key's range, in id order. A scale reads its pool's rows on every call; the full rows
 * (addresses, revisions, request ids, times of creation) were most of what it parsed.
 */
export async function poolMembers(
  db: Kysely<Database>,
  tenantId: string,
  poolId: string,
): Promise<PoolMember[]> {
  const rows = await db
    .selectFrom('instances')
    .select(MEMBER_COLUMNS)
    .where('tenant_id', '=', tenantId)
    .where('pool_id', '=', poolId)
    .orderBy('tenant_id')
    .orderBy('pool_id')
    .orderBy('id')
    .execute();
  return rows.map((r) => poolMember(tenantId, poolId, r));
}

/** The columns of a pool member, as `poolMembers` selects them. */
export const MEMBER_COLUMNS = [
  'id',
  'status',
  'desired_status',
  'node_id',
  'status_since',
  'last_active_at',
  'pressure_slept_at',
  'idle_slot',
  'version',
] as const;

export type MemberRow = Pick<Selectable<InstancesTable>, (typeof MEMBER_COLUMNS)[number]>;

/** A member of `tenantId`'s pool `poolId` from its columns (values checked as a row's are). */
export function poolMember(tenantId: string, poolId: string, r: MemberRow): PoolMember {
  return {
    tenantId,
    poolId,
    id: r.id,
    status: oneOf(instanceStatuses, r.status, 'instances.status'),
    desiredStatus: oneOf(desiredStatuses, r.desired_status, 'instances.desired_status'),
    nodeId: r.node_id,
    statusSince: r.status_since,
    lastActiveAt: r.last_active_at,
    pressureSleptAt: r.pressure_slept_at,
    idleSlot: r.idle_slot === null ? null : oneOf(idleSlots, r.idle_slot, 'instances.idle_slot'),
    version: r.version,
  };
}

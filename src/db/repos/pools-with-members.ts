import { sql, type Kysely, type Selectable } from 'kysely';
import type { Pool } from '../../core/model.ts';
import type { PoolMember } from '../../ports/store.ts';
import { InternalError } from '../../core/errors.ts';
import { dialectOf } from '../sql-dialect.ts';
import type { Database, PoolsTable } from '../schema.ts';
import { MEMBER_COLUMNS, poolMember, poolMembers } from './pool-members.ts';

/** A member as Postgres aggregates it: `MEMBER_COLUMNS`, in that order. */
type MemberTuple = [
  string,
  string,
  string,
  string | null,
  string | null,
  string | null,
  string | null,
  string | null,
  number,
];

/**
 * The tenant's pools and one pool's members (`poolMembers`' columns), what a scale reads
 * after taking the tenant's lock. On Postgres in one statement: the pool's members are
 * aggregated into a JSON array beside its row (every column aggregated is text or an
 * integer, so JSON gives them back unchanged); SQLite (in process, no round trip) reads
 * them one after the other. `members` is undefined when the tenant has no such pool.
 */
export async function poolsWithMembers(
  db: Kysely<Database>,
  tenantId: string,
  poolId: string,
  fromRow: (row: Selectable<PoolsTable>) => Pool,
): Promise<{ pools: Pool[]; members: PoolMember[] | undefined }> {
  if (dialectOf(db) !== 'postgres') {
    const rows = await byTenant(db, tenantId).execute();
    const pools = rows.map(fromRow);
    const found = pools.some((p) => p.id === poolId);
    return { pools, members: found ? await poolMembers(db, tenantId, poolId) : undefined };
  }
  const rows = await byTenant(db, tenantId)
    .select(
      sql<MemberTuple[] | null>`CASE WHEN pools.id = ${poolId} THEN (
        SELECT COALESCE(json_agg(json_build_array(i.id, i.status, i.desired_status, i.node_id,
          i.status_since, i.last_active_at, i.pressure_slept_at, i.idle_slot, i.version)
          ORDER BY i.id), '[]'::json)
        FROM instances i WHERE i.tenant_id = pools.tenant_id AND i.pool_id = pools.id) END`.as(
        'members',
      ),
    )
    .execute();
  const scaled = rows.find((r) => r.id === poolId);
  return {
    pools: rows.map(fromRow),
    members: scaled && (scaled.members ?? []).map((t) => member(tenantId, poolId, t)),
  };
}

function byTenant(db: Kysely<Database>, tenantId: string) {
  return db
    .selectFrom('pools')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('tenant_id')
    .orderBy('id');
}

function member(tenantId: string, poolId: string, t: MemberTuple): PoolMember {
  if (!Array.isArray(t) || t.length !== MEMBER_COLUMNS.length) {
    throw new InternalError('a pool member aggregated by the store has not nine columns', {
      member: t,
    });
  }
  const [id, status, desired_status, node_id, status_since, last_active_at, ...rest] = t;
  const [pressure_slept_at, idle_slot, version] = rest;
  const row = { id, status, desired_status, node_id, status_since, last_active_at };
  return poolMember(tenantId, poolId, { ...row, pressure_slept_at, idle_slot, version });
}

import { sql, type Kysely, type Selectable } from 'kysely';
import type { Pool } from '../../core/model.ts';
import type { PoolMember } from '../../ports/store.ts';
import { InternalError } from '../../core/errors.ts';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import { dialectOf } from '../sql-dialect.ts';
import type { Database, PoolsTable } from '../schema.ts';
import { MEMBER_COLUMNS, poolMember, poolMembers, type MemberRow } from './pool-members.ts';

/** A member as Postgres aggregates it: `MEMBER_COLUMNS`' values, in that order. */
type MemberTuple = MemberRow[keyof MemberRow][];

/** `MEMBER_COLUMNS` of the aggregated instance `i`, in their order. */
const MEMBER_REFS = sql.join(MEMBER_COLUMNS.map((column) => sql.ref(`i.${column}`)));

/**
 * The tenant's pools and one pool's members (`poolMembers`' columns), what a scale reads
 * after taking the tenant's lock. On Postgres in one statement: the pool's members are
 * aggregated into a JSON array beside its row (every column aggregated is text or an
 * integer, so JSON gives them back unchanged); SQLite (in process, no round trip) reads
 * them one after the other. `members` is undefined when the tenant has no such pool.
 */
export async function poolsWithMembers(
  db: Kysely<Database>,
  statements: CompiledStatements,
  tenantId: string,
  poolId: string,
  fromRow: (row: Selectable<PoolsTable>) => Pool,
): Promise<{ pools: Pool[]; members: PoolMember[] | undefined }> {
  if (dialectOf(db) !== 'postgres') {
    const { rows } = await statements.execute(db, poolsOfTenantStatement, { tenantId });
    const pools = rows.map(fromRow);
    const found = pools.some((p) => p.id === poolId);
    return { pools, members: found ? await poolMembers(db, tenantId, poolId) : undefined };
  }
  const { rows } = await statements.execute(db, withMembersStatement, { tenantId, poolId });
  const scaled = rows.find((r) => r.id === poolId);
  return {
    pools: rows.map(fromRow),
    members: scaled && (scaled.members ?? []).map((t) => member(tenantId, poolId, t)),
  };
}

/** The tenant's pools in id order. Every scale reads them: compiled once (compiled-statement.ts). */
export const poolsOfTenantStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { tenantId: string }) => byTenant(db, p.tenantId),
});

/** Postgres: the tenant's pools, `poolId`'s members aggregated beside its row. */
export const withMembersStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { tenantId: string; poolId: string }) =>
    byTenant(db, p.tenantId).select(
      sql<MemberTuple[] | null>`CASE WHEN pools.id = ${p.poolId} THEN (
        SELECT COALESCE(json_agg(json_build_array(${MEMBER_REFS}) ORDER BY i.id), '[]'::json)
        FROM instances i WHERE i.tenant_id = pools.tenant_id AND i.pool_id = pools.id) END`.as(
        'members',
      ),
    ),
});

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
    throw new InternalError(
      `a pool member aggregated by the store has not ${MEMBER_COLUMNS.length} columns`,
      { member: t },
    );
  }
  // A loop, not Object.fromEntries over a mapped array: a toggle maps its pool's 200 members.
  const row: Record<string, unknown> = {};
  for (let k = 0; k < MEMBER_COLUMNS.length; k += 1) row[MEMBER_COLUMNS[k] as string] = t[k];
  return poolMember(tenantId, poolId, row as MemberRow);
}

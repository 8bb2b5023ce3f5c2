import { sql, type Kysely, type Selectable } from 'kysely';
import type { Pool } from '../../core/model.ts';
import type { PoolMember } from '../../ports/store.ts';
import { InternalError } from '../../core/errors.ts';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import { dialectOf } from '../sql-dialect.ts';
import type { Database, PoolsTable } from '../schema.ts';
import { MEMBER_COLUMNS, poolMember, poolMembers, type MemberRow } from './pool-members.ts';

/** A member's row of `withMembersStatement` (`pools` is in the one row of pools). */
type MemberOf = { pools: null } & MemberRow;

/**
 * The tenant's pools and one pool's members (`poolMembers`' columns), what a scale reads
 * after taking the tenant's lock. On Postgres in one statement: a row with the tenant's pools
 * aggregated into JSON (a pool's columns are text or integers, so JSON gives them back
 * unchanged), then the members as plain rows; SQLite (in process, no round trip) reads them
 * one after the other. `members` is undefined when the tenant has no such pool.
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
  let pools: Pool[] | undefined;
  const members: PoolMember[] = [];
  for (const row of rows) {
    if (row.pools !== null) pools = row.pools.map(fromRow);
    else members.push(poolMember(tenantId, poolId, row as MemberRow));
  }
  if (pools === undefined) throw new InternalError('the store answered no row of pools');
  return { pools, members: pools.some((p) => p.id === poolId) ? members : undefined };
}

/** The tenant's pools in id order. Every scale reads them: compiled once (compiled-statement.ts). */
export const poolsOfTenantStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { tenantId: string }) => byTenant(db, p.tenantId),
});

/**
 * Postgres: one row of the tenant's pools in id order (`pools`, their JSON aggregate; the
 * member columns null), then `poolId`'s members in id order, plain rows (`pools` null). A
 * member's columns went as JSON too, a `json_build_array` each aggregated: their text
 * conversion, escaping and the parse on both sides cost more than the rows (docs/scale.md,
 * "What Postgres spends per toggle"). UNION ALL answers its parts in order, each in its own.
 */
export const withMembersStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { tenantId: string; poolId: string }) =>
    db
      .selectFrom('pools')
      .select(
        sql<Selectable<PoolsTable>[] | null>`COALESCE(json_agg(pools ORDER BY pools.id), '[]')`.as(
          'pools',
        ),
      )
      .select(MEMBER_COLUMNS.map((column) => sql<MemberRow[typeof column] | null>`NULL`.as(column)))
      .where('tenant_id', '=', p.tenantId)
      .unionAll(
        sql<MemberOf>`${db
          .selectFrom('instances')
          .select(sql<null>`NULL`.as('pools'))
          .select(MEMBER_COLUMNS)
          .where('tenant_id', '=', p.tenantId)
          .where('pool_id', '=', p.poolId)
          .orderBy('tenant_id')
          .orderBy('pool_id')
          .orderBy('id')}`,
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

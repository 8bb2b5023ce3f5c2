import { sql, type Kysely, type Selectable } from 'kysely';
import type { Pool } from '../../core/model.ts';
import type { PoolMember, TenantRecord } from '../../ports/store.ts';
import { InternalError } from '../../core/errors.ts';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import { inOrder } from '../one-connection.ts';
import { dialectOf } from '../sql-dialect.ts';
import type { Database, PoolsTable, TenantsTable } from '../schema.ts';
import { membersOfText, membersText, poolMembers } from './pool-members.ts';
import { tenantFromRow, tenantLockStatement } from './tenant-repo.ts';

/**
 * The tenant's pools and one pool's members (`poolMembers`' columns), what a scale reads
 * after taking the tenant's lock. On Postgres in one statement of one row: the tenant's pools
 * aggregated into JSON (a pool's columns are text or integers, so JSON gives them back
 * unchanged) and the members as one text (`membersText`); SQLite (in process, no round trip)
 * reads them one after the other. `members` is undefined when the tenant has no such pool.
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
  const [row] = rows;
  if (row === undefined) throw new InternalError('the store answered no row of pools');
  return poolsAndMembers(row, tenantId, poolId, fromRow);
}

/**
 * The tenant's lock (`tenants.lock`), then `poolsWithMembers` read under it. On Postgres both
 * statements go in one socket write and one round trip (one-connection.ts' `inOrder`): the read
 * needs nothing from the lock's answer to be sent, and Postgres starts it only once the lock
 * is held, so under READ COMMITTED it sees what the lock's previous holder committed. A lock
 * that fails (a lock timeout, a deadlock, the session lost) fails the call with its own error,
 * the read's answer unused; `tenant` is undefined when there is no such tenant (the read's
 * answer is then empty and means nothing).
 */
export async function lockedPoolsWithMembers(
  db: Kysely<Database>,
  statements: CompiledStatements,
  tenantId: string,
  poolId: string,
  fromRow: (row: Selectable<PoolsTable>) => Pool,
): Promise<{ tenant: TenantRecord | undefined; pools: Pool[]; members: PoolMember[] | undefined }> {
  if (dialectOf(db) !== 'postgres') {
    const [row] = (await statements.execute(db, tenantLockStatement, { id: tenantId })).rows;
    const read = await poolsWithMembers(db, statements, tenantId, poolId, fromRow);
    return { tenant: row && tenantFromRow(row), ...read };
  }
  const [locked, read] = await inOrder(db, [
    statements.bound(db, tenantLockStatement, { id: tenantId }),
    statements.bound(db, withMembersStatement, { tenantId, poolId }),
  ]);
  const [tenantRow] = (locked?.rows ?? []) as Selectable<TenantsTable>[];
  const [row] = (read?.rows ?? []) as WithMembersRow[];
  if (row === undefined) throw new InternalError('the store answered no row of pools');
  return {
    tenant: tenantRow && tenantFromRow(tenantRow),
    ...poolsAndMembers(row, tenantId, poolId, fromRow),
  };
}

type WithMembersRow = { pools: Selectable<PoolsTable>[]; members: string | null };

function poolsAndMembers(
  row: WithMembersRow,
  tenantId: string,
  poolId: string,
  fromRow: (row: Selectable<PoolsTable>) => Pool,
): { pools: Pool[]; members: PoolMember[] | undefined } {
  const pools = row.pools.map(fromRow);
  if (!pools.some((p) => p.id === poolId)) return { pools, members: undefined };
  return { pools, members: membersOfText(tenantId, poolId, row.members) };
}

/** The tenant's pools in id order. Every scale reads them: compiled once (compiled-statement.ts). */
export const poolsOfTenantStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { tenantId: string }) => byTenant(db, p.tenantId),
});

/**
 * Postgres: one row, the tenant's pools in id order (`pools`, their JSON aggregate) and
 * `poolId`'s members in id order as one text (`members`, pool-members.ts' `membersText`; null
 * when there are none). The members went as 200 plain rows before: pg handles each row as a
 * message, an event and an object, ~4 µs a row in the coordinator, most of what the read cost
 * it (docs/scale.md, "A pool's members as one text"); Postgres spends about the same on the
 * text as on the rows. As a `json_agg` of arrays they cost Postgres 3-5 times more (the
 * escaping; "What Postgres spends per toggle").
 */
export const withMembersStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { tenantId: string; poolId: string }) =>
    db
      .selectFrom('pools')
      .select(
        sql<Selectable<PoolsTable>[]>`COALESCE(json_agg(pools ORDER BY pools.id), '[]')`.as(
          'pools',
        ),
      )
      .select(
        db
          .selectFrom('instances')
          .select(membersText())
          .where('tenant_id', '=', p.tenantId)
          .where('pool_id', '=', p.poolId)
          .as('members'),
      )
      .where('tenant_id', '=', p.tenantId),
});

function byTenant(db: Kysely<Database>, tenantId: string) {
  return db
    .selectFrom('pools')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('tenant_id')
    .orderBy('id');
}

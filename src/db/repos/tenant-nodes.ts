import { sql, type Kysely } from 'kysely';
import { InternalError } from '../../core/errors.ts';
import type { TenantNodes } from '../../ports/store.ts';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import type { Database } from '../schema.ts';
import { dialectOf } from '../sql-dialect.ts';
import { idsParam, isOneOf, type IdsParam } from './id-list.ts';

/**
 * Which nodes hold the tenants' live instances, aggregated in the store: a spread fleet holds
 * nodes × tenants allocation rows, and parsing them row by row was most of a document's cost
 * at 100 nodes × 500 tenants. The live rows are read from the partial index
 * `node_allocations_live_tenant` alone (migration 0041), never from the table: `instances > 0`
 * is written as a literal so that both planners can prove the index's predicate.
 *
 * Tenants on the same nodes come back as one row: their ids and the nodes once. In a spread
 * fleet every tenant of a document is on the same nodes, so a 500-tenant document's answer is
 * 500 tenant ids and 100 node ids, not 500 lists of the same 100 (50,000 ids in JSON).
 */
export function tenantNodesQuery(db: Kysely<Database>, tenantIds: IdsParam) {
  const postgres = dialectOf(db) === 'postgres';
  const nodes = postgres
    ? sql<unknown>`array_agg(distinct node_id order by node_id)`
    : sql<unknown>`json_group_array(distinct node_id order by node_id)`;
  const tenants = postgres
    ? sql<unknown>`array_agg(tenant_id order by tenant_id)`
    : sql<unknown>`json_group_array(tenant_id order by tenant_id)`;
  const held = db
    .selectFrom('node_allocations')
    .select(['tenant_id', nodes.as('node_ids')])
    .where(sql<boolean>`instances > 0`)
    .where(isOneOf(db, 'tenant_id', tenantIds))
    .groupBy('tenant_id');
  return db
    .selectFrom(held.as('held'))
    .select([tenants.as('tenant_ids'), 'held.node_ids'])
    .groupBy('held.node_ids');
}

/** The read above, compiled once: one statement whatever the number of tenants. */
const tenantNodesStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { tenantIds: IdsParam }) =>
    tenantNodesQuery(db, p.tenantIds),
});

/** Per tenant holding live instances, its nodes in order; tenants in order. */
export async function tenantNodes(
  db: Kysely<Database>,
  statements: CompiledStatements,
  tenantIds: readonly string[],
): Promise<TenantNodes[]> {
  if (tenantIds.length === 0) return [];
  const params = { tenantIds: idsParam(db, tenantIds) };
  const { rows } = await statements.execute(db, tenantNodesStatement, params);
  const answer: TenantNodes[] = [];
  for (const row of rows) {
    // One list for every tenant on these nodes (read only, as the port says).
    const nodeIds = idsOf(row.node_ids).sort();
    for (const tenantId of idsOf(row.tenant_ids)) answer.push({ tenantId, nodeIds });
  }
  return answer.sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0));
}

/** An aggregate's ids: a text array on Postgres, JSON text on SQLite. */
function idsOf(value: unknown): string[] {
  const list: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  if (!Array.isArray(list) || !list.every((v): v is string => typeof v === 'string')) {
    throw new InternalError(`node_allocations aggregated to ${String(value)}, not ids`);
  }
  return list;
}

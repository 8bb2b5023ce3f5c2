import { sql, type Kysely } from 'kysely';
import { InternalError } from '../../core/errors.ts';
import type { TenantNodes } from '../../ports/store.ts';
import type { Database } from '../schema.ts';
import { dialectOf } from '../sql-dialect.ts';

/**
 * Which nodes hold the tenants' live instances, aggregated in the store: a spread fleet holds
 * nodes × tenants allocation rows, and parsing them row by row was most of a document's cost
 * at 100 nodes × 500 tenants. The live rows are read from the partial index
 * `node_allocations_live_tenant` alone (migration 0041), never from the table: `instances > 0`
 * is written as a literal so that both planners can prove the index's predicate.
 */
export function tenantNodesQuery(db: Kysely<Database>, tenantIds: readonly string[]) {
  const nodes =
    dialectOf(db) === 'postgres'
      ? sql<unknown>`json_agg(distinct node_id order by node_id)`
      : sql<unknown>`json_group_array(distinct node_id)`;
  return db
    .selectFrom('node_allocations')
    .select(['tenant_id', nodes.as('node_ids')])
    .where(sql<boolean>`instances > 0`)
    .where('tenant_id', 'in', [...tenantIds])
    .groupBy('tenant_id')
    .orderBy('tenant_id');
}

export async function tenantNodes(
  db: Kysely<Database>,
  tenantIds: readonly string[],
): Promise<TenantNodes[]> {
  if (tenantIds.length === 0) return [];
  const rows = await tenantNodesQuery(db, tenantIds).execute();
  return rows.map((r) => ({ tenantId: r.tenant_id, nodeIds: nodeIdsOf(r.node_ids) }));
}

function nodeIdsOf(value: unknown): string[] {
  const list: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  if (!Array.isArray(list) || !list.every((v): v is string => typeof v === 'string')) {
    throw new InternalError(`node_allocations aggregated to ${String(value)}, not node ids`);
  }
  return [...list].sort();
}

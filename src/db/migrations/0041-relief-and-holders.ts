import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Two reads that scanned what they did not need (docs/scale.md, "Quotas and relief read what
 * they touch"):
 * - relief under memory pressure reads the warm instances on the nodes that could make room;
 *   no index led with `status`, so the database read every instance to find them;
 * - `NodeRepo.tenantNodes` asks which nodes hold a tenant's live instances: the index on
 *   `(tenant_id, node_id)` (0035) still sent every row to the table for `instances > 0`. A
 *   partial index of the live rows answers it from the index alone.
 * Frozen once released.
 */
export function reliefAndHoldersMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createIndex('instances_status_node_idx')
        .on('instances')
        .columns(['status', 'node_id'])
        .execute();
      await db.schema
        .createIndex('node_allocations_live_tenant')
        .on('node_allocations')
        .columns(['tenant_id', 'node_id'])
        .where(sql.ref('instances'), '>', 0)
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('node_allocations_live_tenant').execute();
      await db.schema.dropIndex('instances_status_node_idx').execute();
    },
  };
}

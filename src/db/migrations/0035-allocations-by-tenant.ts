import type { Kysely, Migration } from 'kysely';

/**
 * `NodeRepo.tenantNodes` asks which nodes hold a tenant's live instances: for every
 * document (its tenants' VXLAN peers) and for every scheduling pass (whether a placement
 * spreads the tenant to a new node). The primary key leads with `node_id`, so a tenant's
 * rows were found by reading every row (50,000 at 100k instances in a spread fleet, ~60 ms
 * on Postgres); this index leads with the tenant. Frozen once released.
 */
export function allocationsByTenantMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createIndex('node_allocations_tenant')
        .on('node_allocations')
        .columns(['tenant_id', 'node_id'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('node_allocations_tenant').execute();
    },
  };
}

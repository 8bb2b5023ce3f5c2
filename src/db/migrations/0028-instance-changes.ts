import type { Kysely, Migration } from 'kysely';

/**
 * Request ids as far as the node (docs/logs.md, "Request ids"): each instance keeps the id of
 * the last request that changed what its node's document says of it (created, desired status,
 * placement, pinned revision). The document carries it per instance, so the agent does that
 * instance's work under it and hands it to the guest agent. Null on rows written before, or
 * by work no request started (the scheduler's own passes keep the id they find). Frozen once
 * released.
 */
export function instanceChangesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instances').addColumn('last_request_id', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('instances').dropColumn('last_request_id').execute();
    },
  };
}

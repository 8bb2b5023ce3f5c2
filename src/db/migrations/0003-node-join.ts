import type { Kysely, Migration } from 'kysely';

/**
 * Joining nodes: one-time join tokens (only their hash is stored) and every node certificate
 * the coordinator's CA issued, so a certificate whose serial is unknown or revoked is refused
 * even though it chains to the CA. Frozen once released.
 */
export function nodeJoinMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('join_tokens')
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('node_id', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('used_at', 'text')
        .addPrimaryKeyConstraint('join_tokens_pkey', ['id'])
        .addUniqueConstraint('join_tokens_hash_key', ['hash'])
        .execute();
      await db.schema
        .createTable('node_certificates')
        .addColumn('serial', 'text', (c) => c.notNull())
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('not_after', 'text', (c) => c.notNull())
        .addColumn('issued_at', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .addPrimaryKeyConstraint('node_certificates_pkey', ['serial'])
        .execute();
      await db.schema
        .createIndex('node_certificates_node_idx')
        .on('node_certificates')
        .column('node_id')
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('node_certificates').ifExists().execute();
      await db.schema.dropTable('join_tokens').ifExists().execute();
    },
  };
}

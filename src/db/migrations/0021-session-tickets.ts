import type { Kysely, Migration } from 'kysely';

/**
 * Session tickets (docs/exec.md, "Tickets"): a browser's WebSocket cannot send an
 * Authorization header, so a token holder mints a short-lived, single-use ticket for one
 * session kind on one instance and opens the socket with `?ticket=`. Only the ticket's hash
 * is stored, with what it is bound to: the instance, the kind, and the scope of the token that
 * minted it (its tenant, or null for the admin; its id and name, for the audit trail).
 * Frozen once released.
 */
export function sessionTicketsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('session_tickets')
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('scope_tenant_id', 'text')
        .addColumn('token_id', 'text')
        .addColumn('token_name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('used_at', 'text')
        .addPrimaryKeyConstraint('session_tickets_pkey', ['id'])
        .addUniqueConstraint('session_tickets_hash_key', ['hash'])
        .execute();
      await db.schema
        .createIndex('session_tickets_expires_idx')
        .on('session_tickets')
        .column('expires_at')
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('session_tickets').ifExists().execute();
    },
  };
}

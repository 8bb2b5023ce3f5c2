import type { Kysely, Migration } from 'kysely';

/**
 * API tokens may expire, and remember when they were last used (written at most once a
 * minute per token, see TokenService). Existing tokens get null for both: no expiry, not yet
 * seen. Frozen once released.
 */
export function tokensMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      // One column per statement: SQLite adds one at a time.
      await db.schema.alterTable('api_tokens').addColumn('expires_at', 'text').execute();
      await db.schema.alterTable('api_tokens').addColumn('last_used_at', 'text').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('api_tokens').dropColumn('last_used_at').execute();
      await db.schema.alterTable('api_tokens').dropColumn('expires_at').execute();
    },
  };
}

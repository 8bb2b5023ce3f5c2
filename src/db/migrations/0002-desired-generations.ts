import type { Kysely, Migration } from 'kysely';

/**
 * One row per node: the generation of its desired-state document and the digest of the
 * content that generation stands for. The generation moves only when the digest changes, by a
 * compare-and-set, so every coordinator replica numbers the same content the same way.
 * Frozen once released.
 */
export function desiredGenerationsMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('node_generations')
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('generation', 'integer', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('node_generations_pkey', ['node_id'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('node_generations').ifExists().execute();
    },
  };
}

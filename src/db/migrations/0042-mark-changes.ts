import type { Kysely, Migration } from 'kysely';

/**
 * Document marks that say when they moved (docs/scale.md, "A node's document costs what
 * changed (docpatch)"): every bump of a mark stamps `change_seq` as an instance write does
 * (on Postgres the writing transaction's id, on SQLite one more than any mark's stamp so
 * far), so a replica keeps every mark and reads only those moved since its cursor, not the
 * marks of a node's 500 tenants for each of its documents. Existing rows start at 0.
 *
 * Frozen once released.
 */
export function markChangesMigration(): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('document_marks')
        .addColumn('change_seq', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createIndex('document_marks_change_idx')
        .on('document_marks')
        .column('change_seq')
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('document_marks_change_idx').execute();
      await db.schema.alterTable('document_marks').dropColumn('change_seq').execute();
    },
  };
}

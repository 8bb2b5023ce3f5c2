import { sql, type Kysely, type Migration } from 'kysely';
import type { SqlDialect } from '../sql-dialect.ts';

/**
 * Postgres: the rows a scale's write statement joins its members to (db/repos/pool-scale-write.ts,
 * docs/scale.md "Postgres' plans of a toggle"), as a function that says it answers about one
 * row. Joined to `unnest` of array parameters, the statement was planned on every call:
 * Postgres estimates `unnest` of a parameter at 10 rows in a prepared statement's generic
 * plan and of the values at their number in a custom one, so the generic plan always cost
 * more and was never chosen. A PL/pgSQL function is never inlined, so its declared estimate
 * (ROWS 1) is the same in both plans and the generic plan is kept after the first five calls;
 * its own select is planned once per session. The arrays are unnested together, as `unnest`
 * of several arrays does (a shorter one padded with nulls). SQLite has no such statement.
 * Frozen once released.
 */
export function scaleMembersMigration(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      await sql`CREATE FUNCTION mvm_scale_members(
          ids text[], versions integer[], vals text[], lowering boolean[])
        RETURNS TABLE (member_id text, member_version integer, member_value text,
          member_lowering boolean)
        LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE ROWS 1
        AS $$ BEGIN RETURN QUERY SELECT * FROM unnest(ids, versions, vals, lowering); END $$`.execute(
        db,
      );
    },
    async down(db: Kysely<unknown>): Promise<void> {
      if (dialect !== 'postgres') return;
      await sql`DROP FUNCTION mvm_scale_members(text[], integer[], text[], boolean[])`.execute(db);
    },
  };
}

import { sql, type Kysely } from 'kysely';
import { KyselyStore } from '../../../src/db/kysely-store.ts';
import { openDatabase } from '../../../src/db/open-store.ts';
import type { Database } from '../../../src/db/schema.ts';

/** A compiled statement's plans on its session, as Postgres counts them. */
export interface PreparedRow {
  statement: string;
  generic_plans: number;
  custom_plans: number;
}

/**
 * A store on one connection, so the session's prepared statements are the ones the store used,
 * with `rows` analysed instances beside acme/workers/w-1 (its row under new keys in pool
 * `gateways`, the triggers that keep allocations and loads off for the seed): an empty table's
 * costs, or a thousand rows', make any plan cheap enough for Postgres to keep.
 */
export async function plannedStore(
  url: string,
  rows: number,
): Promise<{ store: KyselyStore; kysely: Kysely<Database> }> {
  const {
    db: kysely,
    dialect,
    prepared,
  } = openDatabase(`${url}${url.includes('?') ? '&' : '?'}pool_max=1`);
  const store = new KyselyStore(kysely, dialect, prepared ? { prepared } : {});
  try {
    await sql`alter table instances disable trigger user`.execute(kysely);
    await sql`insert into instances select r.* from instances w, generate_series(1, ${sql.lit(rows)}) g,
        jsonb_populate_record(null::instances, to_jsonb(w) || jsonb_build_object(
          'pool_id', 'gateways', 'id', 'g-' || g, 'mac', 'mac-' || g, 'ip', 'ip-' || g)) r
      where w.tenant_id = 'acme' and w.pool_id = 'workers' and w.id = 'w-1'`.execute(kysely);
    await sql`alter table instances enable trigger user`.execute(kysely);
    await sql`analyze`.execute(kysely);
    return { store, kysely };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** The session's prepared statements with their plan counts. */
export async function preparedStatements(kysely: Kysely<Database>): Promise<PreparedRow[]> {
  const { rows } = await sql<PreparedRow>`
    select statement, generic_plans::int, custom_plans::int from pg_prepared_statements`.execute(
    kysely,
  );
  return rows;
}

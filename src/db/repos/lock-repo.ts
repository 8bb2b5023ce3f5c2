import { PostgresAdapter, sql, type Kysely } from 'kysely';
import type { LockRepo } from '../../ports/store.ts';
import type { Database } from '../schema.ts';

/**
 * Leader-style exclusion across coordinator replicas. On Postgres a transaction-scoped
 * advisory lock: held until the surrounding transaction ends, never waited for. SQLite has a
 * single writer per database file, so the transaction itself already excludes others.
 */
export class KyselyLockRepo implements LockRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async tryAcquire(name: string): Promise<boolean> {
    if (!(this.db.getExecutor().adapter instanceof PostgresAdapter)) return true;
    const result = await sql<{
      ok: boolean;
    }>`select pg_try_advisory_xact_lock(hashtext(${name})) as ok`.execute(this.db);
    return result.rows[0]?.ok === true;
  }
}

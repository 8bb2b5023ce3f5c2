import { sql, type Kysely } from 'kysely';
import type { LockRepo } from '../../ports/store.ts';
import type { Database } from '../schema.ts';
import { dialectOf } from '../sql-dialect.ts';

/**
 * Named exclusion across coordinator replicas. On Postgres a transaction-scoped advisory lock,
 * held until the surrounding transaction ends. SQLite has a single writer per database file,
 * and a store transaction holds it from its BEGIN, so the transaction itself already excludes
 * others.
 */
export class KyselyLockRepo implements LockRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async tryAcquire(name: string): Promise<boolean> {
    if (dialectOf(this.db) !== 'postgres') return true;
    const result = await sql<{
      ok: boolean;
    }>`select pg_try_advisory_xact_lock(hashtext(${name})) as ok`.execute(this.db);
    return result.rows[0]?.ok === true;
  }

  async acquire(name: string): Promise<void> {
    if (dialectOf(this.db) !== 'postgres') return;
    await sql`select pg_advisory_xact_lock(hashtext(${name}))`.execute(this.db);
  }
}

/**
 * A compiled statement checked against the one Kysely builds afresh (db/compiled-statement.ts):
 * the same SQL and parameters, and the same answer and effects, each run in a transaction that
 * is rolled back with what it saw.
 */
import type { Kysely } from 'kysely';
import { expect } from 'vitest';
import type { CompiledStatement, CompiledStatements } from '../../src/db/compiled-statement.ts';
import type { Database } from '../../src/db/schema.ts';

/**
 * What the tables a statement may write hold, read inside its transaction, and how what was
 * seen (the answer and the tables) is compared (e.g. without values that differ each run).
 */
export interface Observe {
  tables: (trx: Kysely<Database>) => Promise<unknown>;
  comparable?: (seen: unknown) => unknown;
}

/** Thrown to roll a transaction back with what it saw. */
class Seen extends Error {
  constructor(readonly seen: unknown) {
    super('rolled back');
  }
}

/** What `run` answers and leaves (as `observe` reads it), then rolled back. */
export async function runRolledBack(
  db: Kysely<Database>,
  run: (trx: Kysely<Database>) => Promise<unknown>,
  observe: Observe,
): Promise<unknown> {
  try {
    await db.transaction().execute(async (trx) => {
      const answer = await run(trx);
      const seen = { answer, tables: await observe.tables(trx) };
      throw new Seen(observe.comparable ? observe.comparable(seen) : seen);
    });
  } catch (error) {
    if (error instanceof Seen) return error.seen;
    throw error;
  }
  throw new Error('not rolled back');
}

/** The compiled statement and the one Kysely builds afresh: same SQL, values, rows, effects. */
export async function expectSameAsBuilt<P extends object, R>(
  db: Kysely<Database>,
  statements: CompiledStatements,
  statement: CompiledStatement<Database, P, R>,
  params: P,
  observe: Observe,
): Promise<void> {
  const built = statement.built(db, params).compile();
  const bound = statements.bound(db, statement, params);
  expect(bound.sql).toBe(built.sql);
  expect(bound.parameters).toEqual(built.parameters);
  const viaBuilt = await runRolledBack(
    db,
    async (trx) => {
      const r = await trx.executeQuery(statement.built(trx, params));
      return { rows: r.rows, affected: r.numAffectedRows };
    },
    observe,
  );
  const viaCompiled = await runRolledBack(
    db,
    async (trx) => {
      const r = await statements.execute(trx, statement, params);
      return { rows: r.rows, affected: r.numAffectedRows };
    },
    observe,
  );
  expect(viaCompiled).toEqual(viaBuilt);
}

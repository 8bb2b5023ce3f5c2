import {
  Kysely,
  type CompiledQuery,
  type QueryResult,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
} from 'kysely';
import { InternalError } from '../core/errors.ts';
import { aheadStatement } from './last-statement.ts';
import { dialectOf } from './sql-dialect.ts';

/**
 * Runs `fn` with a Kysely instance whose statements all go to one pooled connection, sent as
 * they are issued: on a pipelined pg client (open-store.ts) statements issued without awaiting
 * each other are written back to back and answered in order, one round trip for all of them,
 * where the pool would have taken a connection for each, and `db.connection()` would have
 * waited for each answer before sending the next. Each statement is its own (implicit)
 * transaction, run by the server in the order issued. No transaction may be begun on it.
 */
export function onOneConnection<DB, T>(
  db: Kysely<DB>,
  fn: (db: Kysely<DB>) => Promise<T>,
): Promise<T> {
  return db.getExecutor().provideConnection((connection) => {
    // The store's executor (its adapter, plugins and the query log) with this connection, given
    // to every statement at once rather than to one at a time.
    const executor = db.getExecutor().withConnectionProvider({
      provideConnection: (consume) => consume(connection),
    });
    return fn(
      new Kysely<DB>({
        config: { dialect: NO_DIALECT },
        driver: NO_DRIVER,
        executor,
        dialect: NO_DIALECT,
      }),
    );
  });
}

/**
 * Runs `queries` one after the other on `db`'s connection (its transaction's, when `db` is
 * one), each issued before the previous is answered: on Postgres all are written in one socket
 * write (every one but the last marked `aheadStatement`) and answered in order, one round trip.
 * Postgres still runs each only after the one before has finished, with a snapshot of its own
 * under READ COMMITTED, so a statement after a row lock sees what the lock's previous holder
 * committed. The answers, in order; or the first failure in order, once every statement is
 * answered: in a transaction the statements after a failed one fail only because it aborted
 * the transaction (25P02), and their answers are never used. SQLite (in process) runs them
 * one at a time.
 */
export async function inOrder<DB>(
  db: Kysely<DB>,
  queries: readonly CompiledQuery<unknown>[],
): Promise<QueryResult<unknown>[]> {
  if (dialectOf(db) !== 'postgres') {
    const answers: QueryResult<unknown>[] = [];
    for (const query of queries) answers.push(await db.executeQuery(query));
    return answers;
  }
  const settled = await db.getExecutor().provideConnection((connection) =>
    // Issued synchronously one after the other: each reaches the pool's client in this order.
    Promise.allSettled(
      queries.map((query, i) =>
        connection.executeQuery(i < queries.length - 1 ? aheadStatement(db, query) : query),
      ),
    ),
  );
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<QueryResult<unknown>>).value);
}

function refused(): never {
  throw new InternalError('onOneConnection: only statements run on its connection');
}

/** What the one-connection instance has instead of a driver: it acquires nothing itself. */
const NO_DRIVER: Driver = {
  init: () => Promise.resolve(),
  acquireConnection: (): Promise<DatabaseConnection> => refused(),
  beginTransaction: () => refused(),
  commitTransaction: () => refused(),
  rollbackTransaction: () => refused(),
  releaseConnection: () => Promise.resolve(),
  destroy: () => Promise.resolve(),
};

/** Its dialect: only the compiler and adapter are used (through the store's executor). */
const NO_DIALECT: Dialect = {
  createAdapter: () => new PostgresAdapter(),
  createDriver: () => NO_DRIVER,
  createQueryCompiler: () => new PostgresQueryCompiler(),
  createIntrospector: (db) => new PostgresIntrospector(db),
};

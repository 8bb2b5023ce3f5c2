import {
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
} from 'kysely';
import { InternalError } from '../core/errors.ts';

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

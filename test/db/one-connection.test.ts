import {
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
  type CompiledQuery,
  type DatabaseConnection,
  type QueryResult,
} from 'kysely';
import { describe, expect, it } from 'vitest';
import { onOneConnection } from '../../src/db/one-connection.ts';

/** A driver of one connection that answers a statement only when the test says so. */
function heldConnection() {
  const sent: string[] = [];
  const answers: Array<() => void> = [];
  let acquired = 0;
  const connection: DatabaseConnection = {
    executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      sent.push(query.sql);
      return new Promise((resolve) => answers.push(() => resolve({ rows: [] })));
    },
    // eslint-disable-next-line require-yield
    async *streamQuery() {
      throw new Error('not used');
    },
  };
  const db = new Kysely<Record<string, never>>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createQueryCompiler: () => new PostgresQueryCompiler(),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createDriver: () => ({
        init: () => Promise.resolve(),
        acquireConnection: () => {
          acquired += 1;
          return Promise.resolve(connection);
        },
        beginTransaction: () => Promise.resolve(),
        commitTransaction: () => Promise.resolve(),
        rollbackTransaction: () => Promise.resolve(),
        releaseConnection: () => Promise.resolve(),
        destroy: () => Promise.resolve(),
      }),
    },
  });
  return { db, sent, answers, acquired: () => acquired };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('onOneConnection', () => {
  it('sends the statements issued together before any is answered, in the order issued', async () => {
    const { db, sent, answers, acquired } = heldConnection();
    const done = onOneConnection(db, (one) =>
      Promise.all([
        sql`select 1`.execute(one),
        sql`select 2`.execute(one),
        sql`select 3`.execute(one),
      ]),
    );
    await settle();
    // All three are on the wire while none is answered (db.connection() sends one at a time).
    expect(sent).toEqual(['select 1', 'select 2', 'select 3']);
    for (const answer of answers) answer();
    await done;
    expect(acquired()).toBe(1);
  });

  it('refuses a transaction on its connection', async () => {
    const { db, answers } = heldConnection();
    const refused = onOneConnection(db, (one) => one.transaction().execute(() => settle()));
    await expect(refused).rejects.toThrow(/only statements/);
    expect(answers).toHaveLength(0);
  });
});

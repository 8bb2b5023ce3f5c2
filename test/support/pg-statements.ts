import pg from 'pg';
import { onTestFinished } from 'vitest';

/**
 * Counts the statements pg clients send (the Postgres store's only way out) from now until
 * the test ends, when pg's own `query` is put back.
 */
export function countPgStatements(): { count(): number } {
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  let n = 0;
  pg.Client.prototype.query = function counted(this: pg.Client, ...args: unknown[]) {
    n += 1;
    return query.apply(this, args);
  } as typeof pg.Client.prototype.query;
  onTestFinished(() => {
    pg.Client.prototype.query = query as typeof pg.Client.prototype.query;
  });
  return { count: () => n };
}

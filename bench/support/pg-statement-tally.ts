/**
 * Every statement the pg clients of this process send (the Postgres store's only way out, so
 * BEGIN, COMMIT and advisory locks count too), from `tallyPgStatements()` on: how many in all,
 * and, while `recording`, each statement's text (parameters stripped) with its durations.
 */
import pg from 'pg';

export interface PgStatementTally {
  /** Statements sent since the tally began, recorded or not. */
  readonly sent: number;
  /** While true, each statement's duration is filed under its text. */
  recording: boolean;
  /** Statement text (white space folded, 160 characters) → durations in ms. */
  readonly byText: Map<string, number[]>;
}

export function tallyPgStatements(): PgStatementTally {
  const tally = { sent: 0, recording: false, byText: new Map<string, number[]>() };
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function tallied(this: pg.Client, ...args: unknown[]) {
    tally.sent += 1;
    const result = query.apply(this, args);
    const text = statementText(args[0]);
    if (!tally.recording || text === undefined || !(result instanceof Promise)) return result;
    const started = performance.now();
    return result.finally(() => {
      const times = tally.byText.get(text) ?? [];
      times.push(performance.now() - started);
      tally.byText.set(text, times);
    });
  } as typeof pg.Client.prototype.query;
  return tally;
}

function statementText(first: unknown): string | undefined {
  const text = typeof first === 'string' ? first : (first as { text?: string } | undefined)?.text;
  return text?.replace(/\s+/g, ' ').slice(0, 160);
}

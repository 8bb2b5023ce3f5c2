import type { Pool } from 'pg';
import { resilientPool } from '../../../src/db/postgres-pool.ts';

/** A pg client under the store's pool wrapper that records what is written and answers when told. */
export function fakeClient(pipeline: boolean) {
  const sent: string[] = [];
  const answers: Array<{ resolve: (value: unknown) => void; reject: (error: unknown) => void }> =
    [];
  const client = {
    pipeline,
    on: () => client,
    release: () => undefined,
    query: (text: string) => {
      sent.push(text);
      return new Promise((resolve, reject) => answers.push({ resolve, reject }));
    },
  };
  const pool = { on: () => pool, connect: () => Promise.resolve(client), end: () => undefined };
  const answer = (k: number, rows: unknown[] = [], command = 'SELECT') =>
    answers[k]?.resolve({ command, rowCount: rows.length, rows });
  const fail = (k: number, error: Error) => answers[k]?.reject(error);
  return { pool: resilientPool(pool as unknown as Pool), sent, answer, fail };
}

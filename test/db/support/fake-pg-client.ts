import type { Pool } from 'pg';
import { resilientPool } from '../../../src/db/postgres-pool.ts';

/**
 * A pg client under the store's pool wrapper that records what is written and answers when
 * told. `writes` groups what was sent by socket write: statements sent while its socket is
 * corked go out together when it is uncorked, as Node's socket does.
 */
export function fakeClient(pipeline: boolean) {
  const sent: string[] = [];
  const writes: string[][] = [];
  let corked = 0;
  let pending: string[] = [];
  const flush = () => {
    if (corked === 0 && pending.length > 0) {
      writes.push(pending);
      pending = [];
    }
  };
  const stream = {
    cork: () => {
      corked += 1;
    },
    uncork: () => {
      corked = Math.max(0, corked - 1);
      flush();
    },
  };
  const answers: Array<{ resolve: (value: unknown) => void; reject: (error: unknown) => void }> =
    [];
  const client = {
    pipeline,
    connection: { stream },
    on: () => client,
    release: () => undefined,
    query: (text: string) => {
      sent.push(text);
      pending.push(text);
      flush();
      return new Promise((resolve, reject) => answers.push({ resolve, reject }));
    },
  };
  const pool = { on: () => pool, connect: () => Promise.resolve(client), end: () => undefined };
  const answer = (k: number, rows: unknown[] = [], command = 'SELECT') =>
    answers[k]?.resolve({ command, rowCount: rows.length, rows });
  const fail = (k: number, error: Error) => answers[k]?.reject(error);
  return { pool: resilientPool(pool as unknown as Pool), sent, writes, answer, fail };
}

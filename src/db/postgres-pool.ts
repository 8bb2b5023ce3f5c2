import type { PostgresCursor, PostgresPool, PostgresPoolClient } from 'kysely';
import type { Pool, PoolClient } from 'pg';
import { errorMessage, InternalError, StoreUnavailableError } from '../core/errors.ts';
import { unmarked } from './last-statement.ts';
import type { Logger } from '../ports/logger.ts';

/**
 * SQLSTATE classes and codes that mean the session is gone or cannot start, not that the
 * statement was wrong: connection exceptions (08…), and the server shutting down, crashing,
 * starting up or refusing more connections.
 */
const LOST_SESSION_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
/** Socket-level failures Node reports while the server is away. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** What pg says when a client's socket died under it (these errors carry no code). */
const LOST_CONNECTION_MESSAGE =
  /connection terminated|not queryable|connection timeout|timeout exceeded when trying to connect/i;

/** Whether `error` says the database went away rather than that the statement failed. */
export function isConnectionLoss(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === 'string') {
    return code.startsWith('08') || LOST_SESSION_CODES.has(code) || SOCKET_CODES.has(code);
  }
  return LOST_CONNECTION_MESSAGE.test(error.message);
}

function unavailable(error: unknown): StoreUnavailableError {
  const cause = errorMessage(error);
  return new StoreUnavailableError(cause || 'connection lost');
}

/**
 * The pg pool as Kysely sees it, made to outlive its database. A restart or a terminated
 * session makes pg emit 'error' on idle and on checked-out clients; unheard, that event kills
 * the process, so both are heard here (pg-pool drops the dead client itself). Failing to get a
 * connection, and a statement whose session died, become StoreUnavailableError (a 503 with a
 * retry hint); every other error passes unchanged. Nothing is retried here: a statement that
 * died with its session may or may not have committed, and only the caller can tell whether
 * repeating it is safe. The pool opens fresh sessions as soon as the server accepts them.
 */
export function resilientPool(
  pool: Pool,
  logger?: Logger,
  prepared?: PreparedStatements,
): PostgresPool {
  pool.on('error', (err) => {
    logger?.warn({ err }, 'an idle database connection was lost; the pool will open a new one');
  });
  pool.on('connect', (client) => {
    client.on('error', (err) => {
      logger?.warn({ err }, 'a database connection in use was lost; its request fails with 503');
    });
  });
  const wrapped = new WeakMap<PoolClient, PostgresPoolClient>();
  return {
    async connect() {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw unavailable(error);
      }
      let view = wrapped.get(client);
      if (view === undefined) {
        view = translating(client, prepared, logger);
        wrapped.set(client, view);
      }
      return view;
    },
    end: () => pool.end(),
  };
}

/**
 * The statements a store runs as Postgres named prepared statements, by their text: those it
 * compiles once (compiled-statement.ts), a bounded set. Each connection parses, analyses and
 * rewrites such a statement once (pg sends Parse the first time a name is used on a connection)
 * and from then on only binds and executes it; Postgres plans it afresh per call for its first
 * five calls and then keeps a generic plan when that costs no more than the custom ones
 * (plan_cache_mode auto). Every other statement goes unnamed, parsed and planned per call.
 *
 * A migration run by another process (a replica of a newer build) can change what a prepared
 * statement's `*` stands for; Postgres re-analyses a prepared statement after DDL on what it
 * reads, but refuses one whose result's columns changed ("cached plan must not change result
 * type", 0A000). The names carry an epoch: on that refusal the epoch moves on, so every
 * connection prepares every statement afresh under new names (the old ones stay on their
 * connections, unused, until they close), and the refused statement is sent again under its
 * new name when no transaction is open; in a transaction the refusal aborts it and the store
 * runs the whole transaction again (transaction-retry.ts), as for a deadlock.
 */
export class PreparedStatements {
  /** Beyond this many texts, statements go unnamed: a connection keeps every name it parsed. */
  static readonly MAX = 256;
  private readonly numbers = new Map<string, number>();
  private epoch = 0;

  /** Runs `sql` as a named prepared statement from now on (up to MAX texts). */
  add(sql: string): void {
    if (this.numbers.has(sql) || this.numbers.size >= PreparedStatements.MAX) return;
    this.numbers.set(sql, this.numbers.size + 1);
  }

  /** The name `sql` is prepared under now, if it is one of the store's. */
  nameOf(sql: string): string | undefined {
    const n = this.numbers.get(sql);
    return n === undefined ? undefined : `mvm_${this.epoch}_${n}`;
  }

  /** Prepared statements named before this are stale: name them all afresh. */
  renew(name: string): void {
    if (name.startsWith(`mvm_${this.epoch}_`)) this.epoch += 1;
  }

  /** How many texts are named (tests). */
  get size(): number {
    return this.numbers.size;
  }
}

const STALE_PLAN = /cached plan must not change result type/;

/** Postgres refused a prepared statement whose result's columns a migration changed. */
export function isStalePlan(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error as Error & { code?: unknown }).code === '0A000' &&
    STALE_PLAN.test(error.message)
  );
}

/** What Kysely is answered for a statement that was not sent (yet): no rows. */
const UNSENT = { command: 'SELECT' as const, rowCount: 0, rows: [] };

/** The socket under a pg client (not in pg's types), to cork writes that go together. */
function socketOf(client: PoolClient): { cork(): void; uncork(): void } | undefined {
  const stream = (client as { connection?: { stream?: unknown } }).connection?.stream as
    { cork?: unknown; uncork?: unknown } | undefined;
  return typeof stream?.cork === 'function' && typeof stream.uncork === 'function'
    ? (stream as { cork(): void; uncork(): void })
    : undefined;
}

function translating(
  client: PoolClient,
  prepared: PreparedStatements | undefined,
  logger: Logger | undefined,
): PostgresPoolClient {
  // Kysely awaits its `begin` before the transaction's first statement: a round trip of its
  // own. On a pipelined client (pg's `pipeline`, open-store.ts) the `begin` is held instead and
  // written together with the next statement, answered in order on one connection, so the
  // transaction starts in the first statement's round trip (docs/scale.md, "trips").
  let beginHeld = false;
  // Whether a transaction is open on the connection: a stale prepared statement outside one is
  // sent again, inside one it aborts the transaction.
  let inTransaction = false;
  function sendOnce(sql: string, values: unknown[]) {
    const name = prepared?.nameOf(sql);
    return name === undefined
      ? client.query(sql, values)
      : client.query({ name, text: sql, values }).catch((error: unknown) => {
          if (isStalePlan(error)) {
            logger?.warn(
              { err: error },
              'the schema changed under a prepared statement; preparing afresh',
            );
            prepared?.renew(name);
          }
          throw error;
        });
  }
  function send(sql: string, parameters: ReadonlyArray<unknown> | undefined) {
    if (sql === 'begin' || sql.startsWith('start transaction')) inTransaction = true;
    else if (sql === 'commit' || sql === 'rollback') inTransaction = false;
    const values = [...(parameters ?? [])];
    const outside = !inTransaction;
    return sendOnce(sql, values)
      .catch((error: unknown) => {
        // Refused before it ran: nothing was done, and outside a transaction nothing is lost.
        if (outside && isStalePlan(error)) return sendOnce(sql, values);
        throw error;
      })
      .catch((error: unknown) => {
        throw isConnectionLoss(error) ? unavailable(error) : error;
      });
  }
  // After a statement marked as the transaction's last (last-statement.ts): the transaction's
  // `commit`, written with it, and its answer. Kysely's `commit` is answered with it, its
  // `rollback` too (the transaction is over either way); any other statement is refused.
  let ended: Promise<unknown> | undefined;
  /**
   * Writes the held `begin` (with `begin`), the statement, and the transaction's `commit` (with
   * `commit`) in one socket write: pg writes a simple query at once and a statement
   * (Parse/Bind/Execute/Sync, corked by pg) as a write of its own; corked together they are one
   * writev. Each is answered in order on the connection (pipeline mode).
   */
  function together(
    sql: string,
    parameters: ReadonlyArray<unknown> | undefined,
    begin: boolean,
    commit: boolean,
  ) {
    const socket = socketOf(client);
    socket?.cork();
    let begun: ReturnType<typeof send> | undefined;
    let answer: ReturnType<typeof send>;
    try {
      if (begin) begun = send('begin', []);
      answer = send(sql, parameters);
      if (commit) {
        const committed = send('commit', []);
        // Heard here, so a commit Kysely never asks for (its statement failed) is no unhandled
        // rejection; Kysely's `commit` or `rollback` is answered with it.
        committed.catch(() => undefined);
        ended = committed;
      }
    } finally {
      socket?.uncork();
    }
    if (begun === undefined) return answer;
    // A failed `begin` (its connection lost) fails the statement sent behind it, so the
    // transaction's work stops there and Kysely rolls back.
    return begun.then(
      () => answer,
      (error: unknown) => {
        answer.catch(() => undefined);
        throw error;
      },
    );
  }
  function afterLast(sql: string) {
    const commit = ended as Promise<unknown>;
    if (sql === 'commit') return commit;
    // The statement failed, so Postgres answered the commit with a rollback; or the callback
    // threw after its last statement, and its transaction is committed already. Either way
    // there is nothing left to roll back: answered once the commit's own answer is in.
    if (sql === 'rollback') {
      ended = undefined;
      return commit.then(
        () => UNSENT,
        () => UNSENT,
      );
    }
    return Promise.reject(
      new InternalError(
        "a statement ran after its transaction's last statement, which committed it (last-statement.ts)",
        { statement: sql.slice(0, 80) },
      ),
    );
  }
  function query<R>(
    sql: string,
    parameters: ReadonlyArray<unknown>,
  ): Promise<{
    command: 'UPDATE' | 'DELETE' | 'INSERT' | 'SELECT' | 'MERGE';
    rowCount: number;
    rows: R[];
  }>;
  function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  function query(sqlOrCursor: unknown, parameters?: ReadonlyArray<unknown>): unknown {
    // Kysely passes a cursor only for streaming, which the store does not use.
    if (typeof sqlOrCursor !== 'string') return client.query(sqlOrCursor as never);
    const { sql, last, ahead } = unmarked(sqlOrCursor);
    if (ahead) corkAhead();
    try {
      return dispatch(sql, parameters, last);
    } finally {
      if (!ahead) uncorkAhead();
    }
  }
  // A statement marked to go with the next (last-statement.ts' `aheadStatement`): the socket
  // stays corked from it until the next statement is written, so both are one writev. Should
  // none follow, the tick's end writes it (pg writes a pipelined query when it is issued, so
  // a statement issued later in the tick, after microtasks, is still inside the cork).
  let aheadSocket: { uncork(): void } | undefined;
  let aheadToken: object | undefined;
  function corkAhead() {
    if (!client.pipeline || aheadSocket !== undefined) return;
    const socket = socketOf(client);
    if (socket === undefined) return;
    socket.cork();
    aheadSocket = socket;
    const token = {};
    aheadToken = token;
    process.nextTick(() => {
      if (aheadToken === token) uncorkAhead();
    });
  }
  function uncorkAhead() {
    const socket = aheadSocket;
    aheadSocket = undefined;
    aheadToken = undefined;
    socket?.uncork();
  }
  function dispatch(
    sql: string,
    parameters: ReadonlyArray<unknown> | undefined,
    last: boolean,
  ): Promise<unknown> {
    if (ended !== undefined && sql === 'begin') ended = undefined;
    if (ended !== undefined) return afterLast(sql);
    if (client.pipeline && sql === 'begin' && !beginHeld) {
      beginHeld = true;
      return Promise.resolve(UNSENT);
    }
    // The commit goes with a last statement only inside a transaction; outside one the mark
    // changes nothing.
    const commit = last && (beginHeld || inTransaction);
    if (!beginHeld) return commit ? together(sql, parameters, false, true) : send(sql, parameters);
    beginHeld = false;
    // Nothing was begun, so there is nothing to roll back.
    if (sql === 'rollback') return Promise.resolve(UNSENT);
    return together(sql, parameters, true, commit);
  }
  return {
    query,
    release: () => {
      uncorkAhead();
      beginHeld = false;
      ended = undefined;
      inTransaction = false;
      client.release();
    },
  };
}

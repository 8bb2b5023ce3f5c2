import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import { dialectOf } from './sql-dialect.ts';
import { lastStatement } from './last-statement.ts';
import { InternalError } from '../core/errors.ts';
import type { PreparedStatements } from './postgres-pool.ts';

/**
 * A statement's parameters by name: primitives, JSON text, arrays. A name the shape leaves out
 * may be absent; one the statement binds is never `undefined`.
 */
export type StatementParams = object;

/**
 * A hot statement built and compiled by Kysely once per shape and dialect, then run with new
 * parameters bound (docs/scale.md, "Hot statements compiled once"). Building and compiling a
 * statement afresh was a tenth of a heartbeat's CPU; binding is a map over its parameters.
 *
 * `build` is the one definition of the statement. It decides the statement's structure from
 * `shape` alone and hands every value in `params` to Kysely as a value, untouched: to compile,
 * it is called with placeholders, each of which refuses to be read, stringified or compared
 * in JS, and every placeholder read must come out as a parameter of the compiled query, so a
 * value that would have been baked into the SQL fails at once. `built` runs the same builder
 * with the real values, as Kysely alone would (the tests compare the two).
 *
 * A statement keeps nothing: the compiled queries belong to the store that runs it
 * (CompiledStatements), so a module-level definition holds no state.
 */
export interface CompiledStatement<DB, P extends StatementParams, R> {
  /** Which compiled query `params` take: their shape as text. */
  shapeKey(params: P): string;
  /** The statement of `params`' shape built with placeholders and compiled. */
  compile(db: Kysely<DB>, params: P): Compiled<R>;
  /** Kysely's own build with the values in place. */
  built(db: Kysely<DB>, params: P): Compilable<R>;
}

export interface StatementDefinition<DB, S, P extends StatementParams, R> {
  /** The statement's structure for these values, e.g. whether an optional clause is there. */
  shape(params: P): S;
  build(db: Kysely<DB>, shape: S, params: P): Compilable<R>;
}

/** A compiled query and where its values go. */
export interface Compiled<R> {
  query: CompiledQuery<R>;
  /** Per parameter of the compiled query: the name bound there, or undefined for a constant. */
  names: readonly (string | undefined)[];
}

export function compiledStatement<DB, S, P extends StatementParams, R>(
  definition: StatementDefinition<DB, S, P, R>,
): CompiledStatement<DB, P, R> {
  return {
    shapeKey: (params) => JSON.stringify(definition.shape(params)),
    compile: (db, params) => compile(db, definition.shape(params), definition),
    built: (db, params) => definition.build(db, definition.shape(params), params),
  };
}

/**
 * A store's compiled queries, per statement and keyed by dialect and shape (a handful each).
 * The store makes one and hands it to every repo it builds, its transactions' included, so a
 * shape is compiled once per store. The store's Kysely has no plugins, so its compiled query
 * depends on nothing else, and the queryId (plugins' per-query state) is shared harmlessly.
 */
export class CompiledStatements {
  private readonly kept = new Map<object, Map<string, Compiled<unknown>>>();

  /**
   * `prepared`: on Postgres, the pool's named statements (postgres-pool.ts); each query compiled
   * here is added to them, so Postgres parses it once per connection.
   */
  constructor(private readonly prepared?: PreparedStatements) {}

  /**
   * `last`: the statement is its transaction's last, and on Postgres the transaction commits
   * with it (last-statement.ts: the caller runs nothing in the transaction after it).
   */
  execute<DB, P extends StatementParams, R>(
    db: Kysely<DB>,
    statement: CompiledStatement<DB, P, R>,
    params: P,
    options: { last?: boolean } = {},
  ): Promise<QueryResult<R>> {
    const query = this.bound(db, statement, params);
    return db.executeQuery(options.last === true ? lastStatement(db, query) : query);
  }

  /** The compiled query of `params`' shape with their values bound: what execute runs. */
  bound<DB, P extends StatementParams, R>(
    db: Kysely<DB>,
    statement: CompiledStatement<DB, P, R>,
    params: P,
  ): CompiledQuery<R> {
    let shapes = this.kept.get(statement);
    if (!shapes) {
      shapes = new Map();
      this.kept.set(statement, shapes);
    }
    const key = `${dialectOf(db)} ${statement.shapeKey(params)}`;
    let found = shapes.get(key) as Compiled<R> | undefined;
    if (!found) {
      found = statement.compile(db, params);
      shapes.set(key, found);
      if (dialectOf(db) === 'postgres') this.prepared?.add(found.query.sql);
    }
    return { ...found.query, parameters: bind(found, params) };
  }

  /** Shapes of `statement` compiled so far (tests). */
  compiledShapes(statement: object): number {
    return this.kept.get(statement)?.size ?? 0;
  }
}

function compile<DB, S, P extends StatementParams, R>(
  db: Kysely<DB>,
  shape: S,
  definition: StatementDefinition<DB, S, P, R>,
): Compiled<R> {
  const read = new Set<string>();
  const slots = new Proxy({} as P, {
    get(_, name) {
      if (typeof name !== 'string') return undefined;
      read.add(name);
      return new Slot(name);
    },
    ownKeys() {
      throw new InternalError('compiledStatement: the parameters were enumerated; name each one');
    },
  });
  const query = definition.build(db, shape, slots).compile();
  const names = query.parameters.map((p) => (p instanceof Slot ? p.name : undefined));
  const bound = new Set(names);
  const lost = [...read].filter((name) => !bound.has(name));
  if (lost.length > 0) {
    throw new InternalError(
      `compiledStatement: ${lost.join(', ')} read but not bound as parameters`,
    );
  }
  return { query, names };
}

function bind<R>(kept: Compiled<R>, params: StatementParams): unknown[] {
  const values = params as Readonly<Record<string, unknown>>;
  return kept.query.parameters.map((constant, i) => {
    const name = kept.names[i];
    if (name === undefined) return constant;
    const value = values[name];
    if (value === undefined) throw new InternalError(`compiledStatement: no value for '${name}'`);
    return value;
  });
}

/** Where a value goes. Reading it in JS while building would bake a value into the SQL. */
class Slot {
  constructor(readonly name: string) {}
  toJSON(): never {
    throw misuse(this.name);
  }
  toString(): never {
    throw misuse(this.name);
  }
  valueOf(): never {
    throw misuse(this.name);
  }
}

function misuse(name: string): InternalError {
  return new InternalError(
    `compiledStatement: '${name}' is a parameter; pass it to Kysely as a value`,
  );
}

/**
 * The parameters of an update that sets some columns, compiled once per set: the columns'
 * names sorted (`columns`, the shape) and each column's value as the parameter `set:<column>`.
 */
export function setParams(columns: object): { columns: string[] } & Record<string, unknown> {
  const set = Object.keys(columns).sort();
  const params: { columns: string[] } & Record<string, unknown> = { columns: set };
  for (const c of set) params[`set:${c}`] = (columns as Record<string, unknown>)[c];
  return params;
}

/** The columns and values `setParams` bound, as the update's `set` takes them. */
export function setValues(columns: readonly string[], p: Record<string, unknown>) {
  return Object.fromEntries(columns.map((c) => [c, p[`set:${c}`]]));
}

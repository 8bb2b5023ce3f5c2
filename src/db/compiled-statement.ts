import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import { dialectOf } from './sql-dialect.ts';
import { InternalError } from '../core/errors.ts';

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
 * The compiled queries are kept per statement, keyed by dialect and shape (a handful each);
 * the store's Kysely has no plugins, so its compiled query depends on nothing else, and the
 * queryId (plugins' per-query state) is shared harmlessly.
 */
export interface CompiledStatement<DB, P extends StatementParams, R> {
  execute(db: Kysely<DB>, params: P): Promise<QueryResult<R>>;
  /** The compiled query of `params`' shape with their values bound: what execute runs. */
  bound(db: Kysely<DB>, params: P): CompiledQuery<R>;
  built(db: Kysely<DB>, params: P): Compilable<R>;
  /** Shapes compiled so far (tests). */
  compiledShapes(): number;
}

export interface StatementDefinition<DB, S, P extends StatementParams, R> {
  /** The statement's structure for these values, e.g. whether an optional clause is there. */
  shape(params: P): S;
  build(db: Kysely<DB>, shape: S, params: P): Compilable<R>;
}

interface Kept<R> {
  query: CompiledQuery<R>;
  /** Per parameter of the compiled query: the name bound there, or undefined for a constant. */
  names: readonly (string | undefined)[];
}

export function compiledStatement<DB, S, P extends StatementParams, R>(
  definition: StatementDefinition<DB, S, P, R>,
): CompiledStatement<DB, P, R> {
  const kept = new Map<string, Kept<R>>();
  const bound = (db: Kysely<DB>, params: P): CompiledQuery<R> => {
    const shape = definition.shape(params);
    const key = `${dialectOf(db)} ${JSON.stringify(shape)}`;
    let found = kept.get(key);
    if (!found) {
      found = compile(db, shape, definition);
      kept.set(key, found);
    }
    return { ...found.query, parameters: bind(found, params) };
  };
  return {
    execute: (db, params) => db.executeQuery(bound(db, params)),
    bound,
    built: (db, params) => definition.build(db, definition.shape(params), params),
    compiledShapes: () => kept.size,
  };
}

function compile<DB, S, P extends StatementParams, R>(
  db: Kysely<DB>,
  shape: S,
  definition: StatementDefinition<DB, S, P, R>,
): Kept<R> {
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

function bind<R>(kept: Kept<R>, params: StatementParams): unknown[] {
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

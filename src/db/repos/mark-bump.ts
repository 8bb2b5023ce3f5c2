import type { Kysely, OnConflictBuilder } from 'kysely';
import type { AuditEvent } from '../../core/model.ts';
import {
  compiledStatement,
  type CompiledStatement,
  type CompiledStatements,
} from '../compiled-statement.ts';
import { dialectOf } from '../sql-dialect.ts';
import type { Database } from '../schema.ts';
import { auditRow } from './audit-repo.ts';
import { hasSchedulerWork, pressureHeld, schedulerWork, unplaced } from './instance-probes.ts';
import { markStamp } from './mark-changes.ts';

/** An audit event as the statement that bumps the marks appends it. */
export type MarkAudit = Omit<AuditEvent, 'id'>;

/**
 * Moves each scope's document mark forward by one, sorted, so concurrent bumps lock the rows
 * in one order and never deadlock; each bump stamped as an instance write is, so readers read
 * only marks moved since. With `audit`, the write's audit event is appended too: on Postgres in
 * the same statement (a data-modifying WITH, run to completion whatever the outer insert
 * reads), one round trip fewer for every write that ends with both; SQLite (in process, no
 * round trip) runs the two inserts one after the other.
 */
export async function bumpMarks(
  db: Kysely<Database>,
  statements: CompiledStatements,
  scopes: readonly string[],
  audit?: MarkAudit,
): Promise<void> {
  if (scopes.length === 0) {
    if (audit) await db.insertInto('audit_events').values(auditRow(audit)).execute();
    return;
  }
  const sorted = [...new Set(scopes)].sort();
  if (audit !== undefined && dialectOf(db) === 'postgres') {
    await run(db, statements, marksWithAuditStatement, marksParams(sorted, auditRow(audit)));
    return;
  }
  if (audit) await db.insertInto('audit_events').values(auditRow(audit)).execute();
  await run(db, statements, marksStatement, marksParams(sorted));
}

/**
 * `bumpMarks`, then the scheduler's probe (instance-probes.ts) as this transaction sees it
 * after its writes. On Postgres, when a scope moves and the bump is compiled, one statement:
 * the audit event's insert and the marks' upsert as data-modifying WITHs ahead of the probe's
 * select (both run to completion whatever it reads; its snapshot holds the transaction's
 * earlier writes), so a scale's probe costs no round trip after its commit; and, as the
 * transaction's last statement, its commit is written with it (last-statement.ts): the caller
 * runs nothing in the transaction after it. Otherwise the probe is a statement of its own
 * after the bump, and the commit one of its own after that.
 */
export async function bumpMarksProbing(
  db: Kysely<Database>,
  statements: CompiledStatements,
  scopes: readonly string[],
  audit?: MarkAudit,
): Promise<boolean> {
  const sorted = [...new Set(scopes)].sort();
  if (sorted.length === 0 || sorted.length > COMPILED_SCOPES || dialectOf(db) !== 'postgres') {
    await bumpMarks(db, statements, sorted, audit);
    return schedulerWork(db, statements);
  }
  const params = marksParams(sorted, audit && auditRow(audit));
  const statement = audit ? marksWithAuditProbeStatement : marksProbeStatement;
  const [row] = (await statements.execute(db, statement, params, { last: true })).rows;
  return hasSchedulerWork(row);
}

/**
 * Bumps of up to this many scopes run compiled (a scale's or an action's: its nodes, its
 * tenant); a pass's, over many nodes, is built afresh, so that the compiled queries kept stay
 * few and small (one per number of scopes, each as long as its scopes).
 */
const COMPILED_SCOPES = 8;

function run(
  db: Kysely<Database>,
  statements: CompiledStatements,
  statement: CompiledStatement<Database, MarksParams, unknown>,
  params: MarksParams,
) {
  return (params['scopes'] as number) <= COMPILED_SCOPES
    ? statements.execute(db, statement, params)
    : db.executeQuery(statement.built(db, params));
}

type MarksParams = Record<string, unknown>;

/** The marks' parameters: their number (the shape) and scope k as the parameter `scope:k`. */
export function marksParams(
  sorted: readonly string[],
  audit?: ReturnType<typeof auditRow>,
): MarksParams {
  const params: MarksParams = { scopes: sorted.length, ...audit };
  sorted.forEach((scope, k) => (params[`scope:${k}`] = scope));
  return params;
}

/** The marks' rows: scope k is the parameter `scope:k`, each stamped as an instance write is. */
function markValues(db: Kysely<Database>, scopes: number, p: MarksParams) {
  const change_seq = markStamp(db);
  return Array.from({ length: scopes }, (_, k) => ({
    scope: p[`scope:${k}`] as string,
    seq: 1,
    change_seq,
  }));
}

/** A mark already there moves forward by one, stamped anew. */
function bumped(db: Kysely<Database>) {
  return (oc: OnConflictBuilder<Database, 'document_marks'>) =>
    oc.column('scope').doUpdateSet((eb) => ({
      seq: eb('document_marks.seq', '+', 1),
      change_seq: markStamp(db),
    }));
}

/** The marks' upsert. Every write that changes documents ends with it: compiled once a shape. */
export const marksStatement = compiledStatement({
  shape: (p: MarksParams) => p['scopes'] as number,
  build: (db: Kysely<Database>, scopes: number, p: MarksParams) =>
    db
      .insertInto('document_marks')
      .values(markValues(db, scopes, p))
      .onConflict(bumped(db)),
});

/** The audit event bound as the parameters `auditRow` names. */
function auditValues(p: MarksParams) {
  return {
    tenant_id: p['tenant_id'] as string | null,
    at: p['at'] as string,
    actor: p['actor'] as string,
    action: p['action'] as string,
    target: p['target'] as string,
    detail: p['detail'] as string,
  };
}

/** Postgres: the audit event's insert in a data-modifying WITH ahead of the marks' upsert. */
export const marksWithAuditStatement = compiledStatement({
  shape: (p: MarksParams) => p['scopes'] as number,
  build: (db: Kysely<Database>, scopes: number, p: MarksParams) =>
    db
      .with('audit', (qc) => qc.insertInto('audit_events').values(auditValues(p)))
      .insertInto('document_marks')
      .values(markValues(db, scopes, p))
      .onConflict(bumped(db)),
});

/** Postgres: the marks' upsert in a data-modifying WITH ahead of the scheduler's probe. */
export const marksProbeStatement = compiledStatement({
  shape: (p: MarksParams) => p['scopes'] as number,
  build: (db: Kysely<Database>, scopes: number, p: MarksParams) =>
    db
      .with('marks', (qc) =>
        qc
          .insertInto('document_marks')
          .values(markValues(db, scopes, p))
          .onConflict(bumped(db)),
      )
      .selectNoFrom(() => [unplaced(db).as('unplaced'), pressureHeld(db).as('held')]),
});

/** Postgres: the audit event, the marks and the scheduler's probe in one statement. */
export const marksWithAuditProbeStatement = compiledStatement({
  shape: (p: MarksParams) => p['scopes'] as number,
  build: (db: Kysely<Database>, scopes: number, p: MarksParams) =>
    db
      .with('audit', (qc) => qc.insertInto('audit_events').values(auditValues(p)))
      .with('marks', (qc) =>
        qc
          .insertInto('document_marks')
          .values(markValues(db, scopes, p))
          .onConflict(bumped(db)),
      )
      .selectNoFrom(() => [unplaced(db).as('unplaced'), pressureHeld(db).as('held')]),
});

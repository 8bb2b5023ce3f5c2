import type { Kysely } from 'kysely';
import type { AuditEvent } from '../../core/model.ts';
import { dialectOf } from '../sql-dialect.ts';
import type { Database } from '../schema.ts';
import { auditRow } from './audit-repo.ts';
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
  scopes: readonly string[],
  audit?: MarkAudit,
): Promise<void> {
  if (scopes.length === 0) {
    if (audit) await db.insertInto('audit_events').values(auditRow(audit)).execute();
    return;
  }
  const change_seq = markStamp(db);
  const values = [...new Set(scopes)].sort().map((scope) => ({ scope, seq: 1, change_seq }));
  if (audit !== undefined && dialectOf(db) === 'postgres') {
    await db
      .with('audit', (qc) => qc.insertInto('audit_events').values(auditRow(audit)))
      .insertInto('document_marks')
      .values(values)
      .onConflict((oc) =>
        oc
          .column('scope')
          .doUpdateSet((eb) => ({ seq: eb('document_marks.seq', '+', 1), change_seq })),
      )
      .execute();
    return;
  }
  if (audit) await db.insertInto('audit_events').values(auditRow(audit)).execute();
  await db
    .insertInto('document_marks')
    .values(values)
    .onConflict((oc) =>
      oc
        .column('scope')
        .doUpdateSet((eb) => ({ seq: eb('document_marks.seq', '+', 1), change_seq })),
    )
    .execute();
}

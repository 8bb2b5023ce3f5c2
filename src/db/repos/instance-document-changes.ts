import { sql, type Kysely, type Selectable } from 'kysely';
import type { DocumentChanges, DocumentChangedRow } from '../../ports/store.ts';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import type { Database, InstancesTable } from '../schema.ts';
import { changeCursorExpression } from './instance-changes.ts';
import { DOCUMENT_COLUMNS, documentInstance } from './instance-document-rows.ts';

type Row = Pick<Selectable<InstancesTable>, (typeof DOCUMENT_COLUMNS)[number] | 'node_id'>;

function changedRow(r: Row): DocumentChangedRow {
  return {
    instance: documentInstance(r, r.node_id),
    ...(r.last_request_id ? { requestId: r.last_request_id } : {}),
  };
}

const keyOf = (r: { tenant_id: string; pool_id: string; id: string }) =>
  `${r.tenant_id}/${r.pool_id}/${r.id}`;

interface UnionRow extends Row {
  /** 0: a changed row; 1: a tombstone (its key only); 2: the cursor and the horizon. */
  kind: number | string;
}

/**
 * What changed in the instance rows since the change cursor `since` (instance-changes.ts), in
 * the document's columns and wherever the rows are now, for a node's document patched from
 * its previous one (coordinator/desired/node-rows.ts). Undefined when that cannot be told in
 * at most `limit` rows, or when tombstones at or above `since` may have been pruned: the
 * caller reads the node in full.
 *
 * Each part in stamp order: with a bare LIMIT the planner may scan the table expecting many
 * matches early (a third of the rows, by default) and find none. One statement, so one snapshot: the cursor (every change stamped below it is committed, so
 * visible to this snapshot), the rows changed from `since` on without an upper bound (a row
 * committed above the cursor is read again next time: its current state, so idempotent), the
 * tombstones and the pruning horizon (it moves before any tombstone is pruned, so if it is
 * still at or below `since` none this read needed was missing). A deleted key whose row exists
 * again (on Postgres its new stamp may be below `since`) is read back by key.
 */
/**
 * The changes' one statement, compiled once per limit (compiled-statement.ts; on Postgres a
 * named prepared statement: its plan was most of its cost, a watcher's every computation runs
 * it). Planned alike whatever the cursor, so Postgres keeps its generic plan after five calls:
 * the limit is written into the text (a `LIMIT` parameter is guessed at a tenth of the rows in
 * the generic plan) and the cursor is a sub-select of its parameter, a value no plan knows
 * (`change_seq >= $1` is guessed at a third of the rows in the generic plan and at the few it
 * matches in a custom one, which at 100k instances made every call plan afresh).
 */
const changesStatement = compiledStatement({
  shape: (p: { since: number; take: number }) => ({ take: p.take }),
  build: (db: Kysely<Database>, shape: { take: number }, p: { since: number; take: number }) => {
    const columns = sql.raw(DOCUMENT_COLUMNS.join(', '));
    const since = sql`(SELECT CAST(${p.since} AS bigint))`;
    const take = sql.lit(shape.take);
    const query = sql<UnionRow>`
    SELECT 0 AS kind, r.* FROM (
      SELECT ${columns}, node_id FROM instances WHERE change_seq >= ${since}
      ORDER BY change_seq LIMIT ${take}
    ) AS r
    UNION ALL
    SELECT 1, g.tenant_id, g.pool_id, g.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM (
      SELECT tenant_id, pool_id, id FROM instance_tombstones
      WHERE change_seq >= ${since} ORDER BY change_seq LIMIT ${take}
    ) AS g
    UNION ALL
    SELECT 2, CAST(${changeCursorExpression(db)} AS text),
      (SELECT CAST(horizon AS text) FROM instance_change_horizon WHERE id = 1),
      NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`;
    return { compile: () => query.compile(db) };
  },
});

export async function documentChanges(
  db: Kysely<Database>,
  statements: CompiledStatements,
  since: number,
  limit: number,
): Promise<DocumentChanges | undefined> {
  const params = { since, take: limit + 1 };
  const { rows: answer } = await statements.execute(db, changesStatement, params);
  const rows = answer.filter((r) => Number(r.kind) === 0);
  const graves = answer.filter((r) => Number(r.kind) === 1);
  const meta = answer.find((r) => Number(r.kind) === 2);
  if (rows.length > limit || graves.length > limit || !meta) return undefined;
  if (Number(meta.pool_id ?? 0) > since) return undefined;
  const cursor = Number(meta.tenant_id);
  const read = new Set(rows.map(keyOf));
  const deleted = [...new Set(graves.map(keyOf))].filter((k) => !read.has(k));
  const again =
    deleted.length === 0
      ? []
      : await db
          .selectFrom('instances')
          .select([...DOCUMENT_COLUMNS, 'node_id'])
          .where((eb) =>
            eb.or(
              graves
                .filter((g) => !read.has(keyOf(g)))
                .map((g) =>
                  eb.and([
                    eb('tenant_id', '=', g.tenant_id),
                    eb('pool_id', '=', g.pool_id),
                    eb('id', '=', g.id),
                  ]),
                ),
            ),
          )
          .execute();
  const present = new Set(again.map(keyOf));
  return {
    cursor,
    rows: [...rows, ...again].map(changedRow),
    deleted: deleted.filter((k) => !present.has(k)),
  };
}

import type { Kysely, Selectable } from 'kysely';
import type { DocumentChanges, DocumentChangedRow } from '../../ports/store.ts';
import type { Database, InstancesTable } from '../schema.ts';
import { changeCursor, changeHorizon } from './instance-changes.ts';
import { DOCUMENT_COLUMNS, instanceIdentity } from './instance-document-rows.ts';

type Row = Pick<Selectable<InstancesTable>, (typeof DOCUMENT_COLUMNS)[number] | 'node_id'>;

function changedRow(r: Row): DocumentChangedRow {
  return {
    instance: {
      ...instanceIdentity(r),
      nodeId: r.node_id,
      ...(r.sleep_forced === 1 ? { sleepForced: true } : {}),
      ...(r.pinned_revision !== null ? { pinnedRevision: r.pinned_revision } : {}),
    },
    ...(r.last_request_id ? { requestId: r.last_request_id } : {}),
  };
}

const keyOf = (r: { tenant_id: string; pool_id: string; id: string }) =>
  `${r.tenant_id}/${r.pool_id}/${r.id}`;

/**
 * What changed in the instance rows since the change cursor `since` (instance-changes.ts), in
 * the document's columns and wherever the rows are now, for a node's document patched from
 * its previous one (coordinator/desired/node-rows.ts). Undefined when that cannot be told in
 * at most `limit` rows, or when tombstones at or above `since` may have been pruned: the
 * caller reads the node in full.
 *
 * The cursor is read first: every change stamped below it is committed, so visible to the
 * reads that follow. Rows are read from `since` without an upper bound (a row committed
 * above the new cursor is read again next time: its current state, so idempotent). The
 * horizon is read after the tombstones: it moves before any tombstone is pruned, so if it is
 * still at or below `since` none this read needed was missing. A deleted key whose row exists
 * again (on Postgres its new stamp may be below `since`) is read back by key.
 */
export async function documentChanges(
  db: Kysely<Database>,
  since: number,
  limit: number,
): Promise<DocumentChanges | undefined> {
  const cursor = await changeCursor(db);
  const columns = [...DOCUMENT_COLUMNS, 'node_id'] as const;
  const rows = await db
    .selectFrom('instances')
    .select(columns)
    .where('change_seq', '>=', since)
    .limit(limit + 1)
    .execute();
  if (rows.length > limit) return undefined;
  const graves = await db
    .selectFrom('instance_tombstones')
    .select(['tenant_id', 'pool_id', 'id'])
    .where('change_seq', '>=', since)
    .limit(limit + 1)
    .execute();
  if (graves.length > limit) return undefined;
  if ((await changeHorizon(db)) > since) return undefined;
  const read = new Set(rows.map(keyOf));
  const deleted = [...new Set(graves.map(keyOf))].filter((k) => !read.has(k));
  const again =
    deleted.length === 0
      ? []
      : await db
          .selectFrom('instances')
          .select(columns)
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

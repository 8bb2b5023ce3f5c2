import type { Kysely, Selectable } from 'kysely';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import type { DocumentInstance } from '../../core/desired-doc.ts';
import { desiredStatuses, instanceStatuses } from '../../core/model.ts';
import type { DocumentRows } from '../../ports/store.ts';
import { oneOf } from '../row-values.ts';
import type { Database, InstancesTable } from '../schema.ts';

type IdentityColumns = 'tenant_id' | 'pool_id' | 'id' | 'ip' | 'mac' | 'status' | 'desired_status';

/** What every reading of an instance row starts with: its key, addresses and statuses. */
export function instanceIdentity(r: Pick<Selectable<InstancesTable>, IdentityColumns>) {
  return {
    tenantId: r.tenant_id,
    poolId: r.pool_id,
    id: r.id,
    ip: r.ip,
    mac: r.mac,
    status: oneOf(instanceStatuses, r.status, 'instances.status'),
    desiredStatus: oneOf(desiredStatuses, r.desired_status, 'instances.desired_status'),
  };
}

/**
 * An instance row as a document says it, on `nodeId` (a full read's or a patch's). One object
 * literal, optional keys assigned after: `{ ...instanceIdentity(r), nodeId }` gave every row a
 * hidden class of its own (V8's spread clone does not share the map of a key added to it),
 * ~300 bytes each beside the row's own, and each replica keeps every placed instance's row
 * (desired/node-rows.ts).
 */
export function documentInstance(
  r: Pick<Selectable<InstancesTable>, IdentityColumns | 'sleep_forced' | 'pinned_revision'>,
  nodeId: DocumentInstance['nodeId'],
): DocumentInstance {
  const instance: DocumentInstance = {
    tenantId: r.tenant_id,
    poolId: r.pool_id,
    id: r.id,
    ip: r.ip,
    mac: r.mac,
    status: oneOf(instanceStatuses, r.status, 'instances.status'),
    desiredStatus: oneOf(desiredStatuses, r.desired_status, 'instances.desired_status'),
    nodeId,
  };
  if (r.sleep_forced === 1) instance.sleepForced = true;
  if (r.pinned_revision !== null) instance.pinnedRevision = r.pinned_revision;
  return instance;
}

/** The columns a document says of an instance, and its last request id. */
export const DOCUMENT_COLUMNS = [
  'tenant_id',
  'pool_id',
  'id',
  'ip',
  'mac',
  'status',
  'desired_status',
  'sleep_forced',
  'pinned_revision',
  'last_request_id',
] as const;

/** A node's document rows, compiled once (compiled-statement.ts). */
const documentRowsStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { nodeId: string }) =>
    db
      .selectFrom('instances')
      .select(DOCUMENT_COLUMNS)
      .where('node_id', '=', p.nodeId)
      .orderBy('tenant_id')
      .orderBy('pool_id')
      .orderBy('id'),
});

/**
 * A node's instances as its document needs them, with the last request id of each: the
 * columns the document says, not every column (row parsing was the larger part of reading a
 * 1,000-instance node on Postgres), in the order instances.list() gives.
 */
export async function documentRows(
  db: Kysely<Database>,
  statements: CompiledStatements,
  nodeId: string,
): Promise<DocumentRows> {
  const { rows } = await statements.execute(db, documentRowsStatement, { nodeId });
  const requestIds = new Map<string, string>();
  const instances = rows.map((r): DocumentInstance => {
    if (r.last_request_id) requestIds.set(`${r.tenant_id}/${r.pool_id}/${r.id}`, r.last_request_id);
    return documentInstance(r, nodeId);
  });
  return { instances, requestIds };
}

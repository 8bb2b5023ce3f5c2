import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import { AlreadyExistsError, ConflictError, NotFoundError } from '../../core/errors.ts';
import { desiredStatuses, instanceStatuses } from '../../core/model.ts';
import { idleSlots } from '../../core/idle-policy.ts';
import type { DesiredStatus, Instance, InstanceStatus } from '../../core/model.ts';
import type {
  DocumentChanges,
  DocumentRows,
  DesiredCount,
  InstanceFilter,
  InstanceChanges,
  InstanceKey,
  InstancePatch,
  InstanceRepo,
  InstanceTally,
  PoolMember,
} from '../../ports/store.ts';
import { statusConflict, versionConflict } from '../cas-errors.ts';
import {
  compiledStatement,
  setParams,
  setValues,
  type CompiledStatements,
} from '../compiled-statement.ts';
import { translateConstraintError } from '../constraint-error.ts';
import type { ConstraintRules } from '../constraint-error.ts';
import { currentRequestId } from '../../drivers/request-context.ts';
import { oneOf } from '../row-values.ts';
import type { Database, InstancesTable } from '../schema.ts';
import {
  changeCursor,
  changeHorizon,
  changeStamp,
  pruneTombstones,
  tombstoneStamp,
} from './instance-changes.ts';
import { documentChanges } from './instance-document-changes.ts';
import { documentRows, instanceIdentity } from './instance-document-rows.ts';
import { anyPressureHeld, desiredCounts, schedulerWork, warmOnNodes } from './instance-probes.ts';
import { poolMembers } from './pool-members.ts';

type InstanceRow = Selectable<InstancesTable>;
type Db = Kysely<Database>;

export class KyselyInstanceRepo implements InstanceRepo {
  constructor(
    private readonly db: Db,
    private readonly statements: CompiledStatements,
  ) {}

  async insert(instance: Instance): Promise<void> {
    try {
      await this.db
        .insertInto('instances')
        .values({ ...toRow(instance), change_seq: changeStamp(this.db) })
        .execute();
    } catch (error) {
      throw translateConstraintError(error, insertRules(instance));
    }
  }

  async get(key: InstanceKey): Promise<Instance | undefined> {
    const [row] = (await this.statements.execute(this.db, getStatement, key)).rows;
    return row && fromRow(row);
  }

  async list(filter: InstanceFilter = {}): Promise<Instance[]> {
    let query = this.db.selectFrom('instances').selectAll();
    if (filter.tenantId !== undefined) query = query.where('tenant_id', '=', filter.tenantId);
    if (filter.poolId !== undefined) query = query.where('pool_id', '=', filter.poolId);
    if (filter.nodeId !== undefined) query = query.where('node_id', '=', filter.nodeId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    const after = filter.after;
    if (after !== undefined) {
      query = query.where((eb) =>
        eb(
          eb.refTuple('tenant_id', 'pool_id', 'id'),
          '>',
          eb.tuple(after.tenantId, after.poolId, after.instanceId),
        ),
      );
    }
    if (filter.limit !== undefined) query = query.limit(filter.limit);
    const rows = await query.orderBy('tenant_id').orderBy('pool_id').orderBy('id').execute();
    return rows.map(fromRow);
  }

  async lastRequestIds(nodeId: string): Promise<Map<string, string>> {
    const rows = await this.db
      .selectFrom('instances')
      .select(['tenant_id', 'pool_id', 'id', 'last_request_id'])
      .where('node_id', '=', nodeId)
      .where('last_request_id', 'is not', null)
      .execute();
    return new Map(
      rows.flatMap((r) =>
        r.last_request_id ? [[`${r.tenant_id}/${r.pool_id}/${r.id}`, r.last_request_id]] : [],
      ),
    );
  }

  documentRows(nodeId: string): Promise<DocumentRows> {
    return documentRows(this.db, this.statements, nodeId);
  }

  documentChanges(since: number, limit: number): Promise<DocumentChanges | undefined> {
    return documentChanges(this.db, this.statements, since, limit);
  }

  async listUnplaced(): Promise<Instance[]> {
    const rows = await this.db
      .selectFrom('instances')
      .selectAll()
      .where('node_id', 'is', null)
      .where('desired_status', '<>', 'destroyed')
      .orderBy('tenant_id')
      .orderBy('pool_id')
      .orderBy('id')
      .execute();
    return rows.map(fromRow);
  }

  async listPressureHeld(): Promise<Instance[]> {
    const rows = await this.db
      .selectFrom('instances')
      .selectAll()
      // A range on the index, as in anyPressureHeld.
      .where('pressure_slept_at', '>=', '')
      .where('desired_status', '<>', 'destroyed')
      .orderBy('pressure_slept_at')
      .orderBy('tenant_id')
      .orderBy('pool_id')
      .orderBy('id')
      .execute();
    return rows.map(fromRow);
  }

  anyPressureHeld(): Promise<boolean> {
    return anyPressureHeld(this.db);
  }

  async listWarmOn(nodeIds: readonly string[]): Promise<Instance[]> {
    return (await warmOnNodes(this.db, nodeIds)).map(fromRow);
  }

  poolMembers(tenantId: string, poolId: string): Promise<PoolMember[]> {
    return poolMembers(this.db, tenantId, poolId);
  }

  schedulerWork(): Promise<boolean> {
    return schedulerWork(this.db, this.statements);
  }

  desiredCounts(tenantId: string, options?: { exceptPoolId?: string }): Promise<DesiredCount[]> {
    return desiredCounts(this.db, tenantId, options);
  }

  async usedIps(tenantId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('instances')
      .select('ip')
      .where('tenant_id', '=', tenantId)
      .orderBy('ip')
      .execute();
    return rows.map((r) => r.ip);
  }

  async tally(): Promise<InstanceTally[]> {
    const rows = await this.db
      .selectFrom('instances')
      .select(['tenant_id', 'pool_id', 'node_id', 'status', 'desired_status'])
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .groupBy(['tenant_id', 'pool_id', 'node_id', 'status', 'desired_status'])
      .orderBy('tenant_id')
      .orderBy('pool_id')
      .execute();
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      poolId: r.pool_id,
      nodeId: r.node_id,
      status: oneOf(instanceStatuses, r.status, 'instances.status'),
      desiredStatus: oneOf(desiredStatuses, r.desired_status, 'instances.desired_status'),
      // Postgres answers count(*) as a bigint, which pg hands over as a string.
      count: Number(r.count),
    }));
  }

  async setDesired(
    key: InstanceKey,
    desired: DesiredStatus,
    expectedVersion: number,
    at: string,
    options: { force?: boolean; lowering?: boolean } = {},
  ): Promise<Instance> {
    const patch = {
      ...desiredPatch(desired, options.force === true),
      ...(options.lowering === true ? { loweredAt: at } : {}),
    };
    return this.update(key, patch, expectedVersion, at);
  }

  async transition(
    key: InstanceKey,
    from: InstanceStatus,
    to: InstanceStatus,
    at: string,
    patch: InstancePatch = {},
  ): Promise<Instance> {
    const columns = {
      ...patchColumns(patch),
      status: to,
      ...(from === to ? {} : { status_since: at }),
    };
    const row = await whereKey(this.updateQuery(columns, at), key)
      .where('status', '=', from)
      .returningAll()
      .executeTakeFirst();
    if (row) return fromRow(row);
    const stored = await this.mustGet(key);
    throw statusConflict(`instance ${path(key)}`, from, stored.status);
  }

  async update(
    key: InstanceKey,
    patch: InstancePatch,
    expectedVersion: number,
    at: string,
  ): Promise<Instance> {
    return updateInstance(this.db, this.statements, key, patch, expectedVersion, at);
  }

  async delete(key: InstanceKey): Promise<void> {
    const row = await whereKey(this.db.deleteFrom('instances'), key)
      .returningAll()
      .executeTakeFirst();
    if (!row) return;
    // Watchers learn of the deletion from its tombstone (instance-changes.ts).
    await this.db
      .insertInto('instance_tombstones')
      .values({
        tenant_id: row.tenant_id,
        pool_id: row.pool_id,
        id: row.id,
        change_seq: tombstoneStamp(this.db, Number(row.change_seq ?? 0)),
        deleted_at: new Date().toISOString(),
        item: JSON.stringify(fromRow(row)),
      })
      .execute();
  }

  changeCursor(): Promise<number> {
    return changeCursor(this.db, this.statements);
  }

  changeHorizon(): Promise<number> {
    return changeHorizon(this.db);
  }

  pruneTombstones(deletedBefore: string, at: string): Promise<{ pruned: number; horizon: number }> {
    return pruneTombstones(this.db, deletedBefore, at);
  }

  async changesSince(
    since: number,
    scope: { tenantId?: string; poolId?: string } = {},
  ): Promise<InstanceChanges> {
    const next = await changeCursor(this.db);
    if (next <= since) return { changes: [], next: since };
    let rows = this.db
      .selectFrom('instances')
      .selectAll()
      .where('change_seq', '>=', since)
      .where('change_seq', '<', next);
    let graves = this.db
      .selectFrom('instance_tombstones')
      .select(['item', 'change_seq'])
      .where('change_seq', '>=', since)
      .where('change_seq', '<', next);
    if (scope.tenantId !== undefined) {
      rows = rows.where('tenant_id', '=', scope.tenantId);
      graves = graves.where('tenant_id', '=', scope.tenantId);
    }
    if (scope.poolId !== undefined) {
      rows = rows.where('pool_id', '=', scope.poolId);
      graves = graves.where('pool_id', '=', scope.poolId);
    }
    const changed = (await rows.orderBy('change_seq').execute()).map((r) => ({
      seq: Number(r.change_seq ?? 0),
      instance: fromRow(r),
      deleted: false,
    }));
    const buried = (await graves.orderBy('change_seq').execute()).map((g) => ({
      seq: Number(g.change_seq),
      instance: JSON.parse(g.item) as Instance,
      deleted: true,
    }));
    const changes = [...changed, ...buried]
      .sort((a, b) => a.seq - b.seq)
      .map(({ instance, deleted }) => ({ instance, deleted }));
    return { changes, next };
  }

  private updateQuery(columns: Updateable<InstancesTable>, at: string) {
    return this.db.updateTable('instances').set((eb) => ({
      ...columns,
      updated_at: at,
      version: eb('version', '+', 1),
      change_seq: changeStamp(this.db),
    }));
  }

  private async mustGet(key: InstanceKey): Promise<Instance> {
    const stored = await this.get(key);
    if (!stored) throw new NotFoundError('instance', path(key));
    return stored;
  }
}

/** The patch of `setDesired`: a new desired status ends a pressure hold, an idle slot and a forced sleep. */
export function desiredPatch(desired: DesiredStatus, force: boolean): InstancePatch {
  const sleepForced = desired === 'sleeping' && force;
  return { desiredStatus: desired, pressureSleptAt: null, idleSlot: null, sleepForced };
}

/** `update`: the compiled compare-and-set, or the conflict it found (a scale's members too). */
export async function updateInstance(
  db: Db,
  statements: CompiledStatements,
  key: InstanceKey,
  patch: InstancePatch,
  expectedVersion: number,
  at: string,
): Promise<Instance> {
  const params = updateParams(key, withRequestId(patch), expectedVersion, at);
  const [row] = (await statements.execute(db, updateStatement, params)).rows;
  if (row) return fromRow(row);
  throw await instanceConflict(db, statements, key, expectedVersion);
}

/** The error of a compare-and-set on `expectedVersion` that matched no row. */
export async function instanceConflict(
  db: Db,
  statements: CompiledStatements,
  key: InstanceKey,
  expectedVersion: number,
): Promise<Error> {
  const [stored] = (await statements.execute(db, getStatement, key)).rows;
  if (!stored) return new NotFoundError('instance', path(key));
  return versionConflict(`instance ${path(key)}`, expectedVersion, stored.version);
}

/** Anything with a `where` over the instances table: select, update and delete builders. */
interface Filterable<Q> {
  where(column: 'tenant_id' | 'pool_id' | 'id', op: '=', value: string): Q;
}

/** One instance by key: every status report and action reads it, compiled once. */
const getStatement = compiledStatement({
  shape: () => ({}),
  build: (db: Kysely<Database>, _: object, key: InstanceKey) =>
    whereKey(db.selectFrom('instances').selectAll(), key),
});

type UpdateParams = Record<string, unknown>;

/**
 * An instance's compare-and-set update of some columns (with its time, version and change
 * stamp), answering the row as written: every scale's and action's write. Compiled once per
 * set of columns; each column's value is the parameter `set:<column>`.
 */
export const updateStatement = compiledStatement({
  shape: (p: UpdateParams) => p['columns'] as readonly string[],
  build: (db: Kysely<Database>, columns: readonly string[], p: UpdateParams) =>
    whereKey(
      db.updateTable('instances').set((eb) => ({
        ...(setValues(columns, p) as Updateable<InstancesTable>),
        updated_at: p['at'] as string,
        version: eb('version', '+', 1),
        change_seq: changeStamp(db),
      })),
      { tenantId: p['tenantId'], poolId: p['poolId'], instanceId: p['instanceId'] } as InstanceKey,
    )
      .where('version', '=', p['expectedVersion'] as number)
      .returningAll(),
});

/** `updateStatement`'s parameters: the columns set (sorted: the shape), each a parameter. */
export function updateParams(
  key: InstanceKey,
  columns: Updateable<InstancesTable>,
  expectedVersion: number,
  at: string,
): UpdateParams {
  return { ...key, expectedVersion, at, ...setParams(columns) };
}

function whereKey<Q extends Filterable<Q>>(query: Q, key: InstanceKey): Q {
  return query
    .where('tenant_id', '=', key.tenantId)
    .where('pool_id', '=', key.poolId)
    .where('id', '=', key.instanceId);
}

function path(key: InstanceKey): string {
  return `${key.tenantId}/${key.poolId}/${key.instanceId}`;
}

function insertRules(i: Instance): ConstraintRules {
  const inUse = (field: string, value: string, columns: string[], constraint: string) => ({
    constraint,
    columns,
    error: () =>
      new ConflictError(`instance ${field} ${value} is already in use in tenant ${i.tenantId}`, {
        field,
        value,
      }),
  });
  return {
    unique: [
      {
        constraint: 'instances_pkey',
        columns: ['tenant_id', 'pool_id', 'id'],
        error: () => new AlreadyExistsError('instance', `${i.tenantId}/${i.poolId}/${i.id}`),
      },
      inUse('ip', i.ip, ['tenant_id', 'ip'], 'instances_ip_key'),
      inUse('mac', i.mac, ['mac'], 'instances_mac_key'),
    ],
    foreignKey: () =>
      new NotFoundError('pool', `${i.tenantId}/${i.poolId}`, 'create the pool first'),
  };
}

/**
 * The patch's columns, and the id of the request being served when the patch changes what a
 * node's document says of the instance (without one, the id already stored stays).
 */
function withRequestId(patch: InstancePatch): Updateable<InstancesTable> {
  const columns = patchColumns(patch);
  const requestId = currentRequestId();
  const documented =
    patch.desiredStatus !== undefined ||
    patch.nodeId !== undefined ||
    patch.sleepForced !== undefined ||
    patch.pinnedRevision !== undefined;
  return requestId !== undefined && documented
    ? { ...columns, last_request_id: requestId }
    : columns;
}

function patchColumns(patch: InstancePatch): Updateable<InstancesTable> {
  const columns: Updateable<InstancesTable> = {};
  if (patch.nodeId !== undefined) columns.node_id = patch.nodeId;
  if (patch.revision !== undefined) columns.revision = patch.revision;
  if (patch.failureReason !== undefined) columns.failure_reason = patch.failureReason;
  if (patch.desiredStatus !== undefined) columns.desired_status = patch.desiredStatus;
  // A forced sleep is a request for that one sleep: another desired status ends it.
  if (patch.sleepForced !== undefined || patch.desiredStatus !== undefined)
    columns.sleep_forced = patch.sleepForced === true ? 1 : 0;
  if (patch.lastActiveAt !== undefined) columns.last_active_at = patch.lastActiveAt;
  if (patch.pressureSleptAt !== undefined) columns.pressure_slept_at = patch.pressureSleptAt;
  if (patch.idleSlot !== undefined) columns.idle_slot = patch.idleSlot;
  if (patch.pinnedRevision !== undefined) columns.pinned_revision = patch.pinnedRevision;
  if (patch.pinnedAt !== undefined) columns.pinned_at = patch.pinnedAt;
  if (patch.loweredAt !== undefined) columns.lowered_at = patch.loweredAt;
  return columns;
}

function toRow(i: Instance): Insertable<InstancesTable> {
  return {
    tenant_id: i.tenantId,
    pool_id: i.poolId,
    id: i.id,
    ip: i.ip,
    mac: i.mac,
    status: i.status,
    desired_status: i.desiredStatus,
    node_id: i.nodeId,
    revision: i.revision,
    failure_reason: i.failureReason,
    status_since: i.statusSince,
    last_active_at: i.lastActiveAt,
    pressure_slept_at: i.pressureSleptAt,
    sleep_forced: i.sleepForced === true ? 1 : 0,
    idle_slot: i.idleSlot,
    pinned_revision: i.pinnedRevision ?? null,
    pinned_at: i.pinnedAt ?? null,
    lowered_at: i.loweredAt ?? null,
    last_request_id: currentRequestId() ?? null,
    created_at: i.createdAt,
    updated_at: i.updatedAt,
    version: i.version,
  };
}

export function fromRow(r: InstanceRow): Instance {
  return {
    ...instanceIdentity(r),
    nodeId: r.node_id,
    revision: r.revision,
    failureReason: r.failure_reason,
    statusSince: r.status_since,
    lastActiveAt: r.last_active_at,
    pressureSleptAt: r.pressure_slept_at,
    ...(r.sleep_forced === 1 ? { sleepForced: true } : {}),
    idleSlot: r.idle_slot === null ? null : oneOf(idleSlots, r.idle_slot, 'instances.idle_slot'),
    ...(r.pinned_revision !== null
      ? { pinnedRevision: r.pinned_revision, pinnedAt: r.pinned_at }
      : {}),
    ...(r.lowered_at !== null && r.lowered_at !== undefined ? { loweredAt: r.lowered_at } : {}),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    version: r.version,
  };
}

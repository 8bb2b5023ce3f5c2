import type { Kysely, Selectable, Updateable } from 'kysely';
import {
  AlreadyExistsError,
  ConflictError,
  InternalError,
  NotFoundError,
} from '../../core/errors.ts';
import { roles } from '../../core/model.ts';
import type { Instance, Pool } from '../../core/model.ts';
import type { MemberWrite, PoolMember, PoolPatch, PoolRepo } from '../../ports/store.ts';
import { versionConflict } from '../cas-errors.ts';
import {
  compiledStatement,
  setParams,
  setValues,
  type CompiledStatements,
} from '../compiled-statement.ts';
import { translateConstraintError } from '../constraint-error.ts';
import { idsParam, isOneOf, type IdsParam } from './id-list.ts';
import { oneOf } from '../row-values.ts';
import { hooksOf, PublishedPortClaims, publishedOf } from './published-port-claims.ts';
import { lockedPoolsWithMembers, poolsWithMembers } from './pools-with-members.ts';
import { updateWithMembers, type PoolRows, type ScaledPool } from './pool-scale-write.ts';
import type { Database, PoolsTable } from '../schema.ts';

type PoolRow = Selectable<PoolsTable>;

/** A pool update's key, expected version and time; its columns are parameters `set:<column>`. */
type PoolUpdateParams = Record<string, unknown>;

/**
 * A pool's compare-and-set update of some columns, answering the row as written. Every scale
 * runs it: compiled once per set of columns (db/compiled-statement.ts).
 */
export const poolUpdateStatement = compiledStatement({
  shape: (p: PoolUpdateParams) => p['columns'] as readonly string[],
  build: (db: Kysely<Database>, columns: readonly string[], p: PoolUpdateParams) =>
    db
      .updateTable('pools')
      .set((eb) => ({
        ...(setValues(columns, p) as Updateable<PoolsTable>),
        updated_at: p['at'] as string,
        version: eb('version', '+', 1),
      }))
      .where('tenant_id', '=', p['tenantId'] as string)
      .where('id', '=', p['id'] as string)
      .where('version', '=', p['expectedVersion'] as number)
      .returningAll(),
});

/** `poolUpdateStatement`'s parameters: the columns set (sorted: the shape), each a parameter. */
export function poolUpdateParams(
  key: { tenantId: string; id: string; expectedVersion: number; at: string },
  columns: Updateable<PoolsTable>,
): PoolUpdateParams {
  return { ...key, ...setParams(columns) };
}

/** These tenants' pools (a document's tenants): one statement whatever their number. */
const poolsOfTenantsStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { tenantIds: IdsParam }) =>
    db
      .selectFrom('pools')
      .selectAll()
      .where(isOneOf(db, 'tenant_id', p.tenantIds))
      .orderBy('tenant_id')
      .orderBy('id'),
});

export class KyselyPoolRepo implements PoolRepo {
  private readonly claims: PublishedPortClaims;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly statements: CompiledStatements,
  ) {
    this.claims = new PublishedPortClaims(db);
  }

  async insert(pool: Pool): Promise<void> {
    const path = `${pool.tenantId}/${pool.id}`;
    try {
      await this.db.insertInto('pools').values(toRow(pool)).execute();
    } catch (error) {
      throw translateConstraintError(error, {
        unique: [
          {
            constraint: 'pools_pkey',
            columns: ['tenant_id', 'id'],
            error: () => new AlreadyExistsError('pool', path),
          },
        ],
        foreignKey: () => new NotFoundError('tenant', pool.tenantId, 'create the tenant first'),
      });
    }
    await this.claims.claim(pool.tenantId, pool.id, pool.publish ?? []);
  }

  async get(tenantId: string, id: string): Promise<Pool | undefined> {
    const row = await this.db
      .selectFrom('pools')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async list(filter: { tenantId?: string; tenantIds?: readonly string[] } = {}): Promise<Pool[]> {
    const { tenantIds } = filter;
    if (tenantIds !== undefined && tenantIds.length === 0) return [];
    if (tenantIds !== undefined && filter.tenantId === undefined) {
      const params = { tenantIds: idsParam(this.db, tenantIds) };
      const { rows } = await this.statements.execute(this.db, poolsOfTenantsStatement, params);
      return rows.map(fromRow);
    }
    let query = this.db.selectFrom('pools').selectAll();
    if (filter.tenantId !== undefined) query = query.where('tenant_id', '=', filter.tenantId);
    if (tenantIds !== undefined) query = query.where('tenant_id', 'in', [...tenantIds]);
    const rows = await query.orderBy('tenant_id').orderBy('id').execute();
    return rows.map(fromRow);
  }

  withMembers(
    tenantId: string,
    poolId: string,
  ): Promise<{ pools: Pool[]; members: PoolMember[] | undefined }> {
    return poolsWithMembers(this.db, this.statements, tenantId, poolId, fromRow);
  }

  lockedWithMembers(tenantId: string, poolId: string) {
    return lockedPoolsWithMembers(this.db, this.statements, tenantId, poolId, fromRow);
  }

  async update(
    tenantId: string,
    id: string,
    patch: PoolPatch,
    expectedVersion: number,
    at: string,
  ): Promise<Pool> {
    const params = poolUpdateParams({ tenantId, id, expectedVersion, at }, patchColumns(patch));
    const [row] = (await this.statements.execute(this.db, poolUpdateStatement, params)).rows;
    if (row) {
      if (patch.publish !== undefined) await this.claims.claim(tenantId, id, patch.publish);
      return fromRow(row);
    }
    const stored = await this.get(tenantId, id);
    if (!stored) throw new NotFoundError('pool', `${tenantId}/${id}`);
    throw versionConflict(`pool ${tenantId}/${id}`, expectedVersion, stored.version);
  }

  updateWithMembers(
    pool: ScaledPool,
    members: readonly MemberWrite[],
    at: string,
  ): Promise<{ pool: Pool; members: Instance[]; locked?: boolean }> {
    return updateWithMembers(this.db, this.statements, this.rows, pool, members, at);
  }

  private readonly rows: PoolRows = {
    columns: patchColumns,
    fromRow,
    update: (p, at) => this.update(p.tenantId, p.id, p.patch, p.expectedVersion, at),
    get: (tenantId, id) => this.get(tenantId, id),
  };

  async delete(tenantId: string, id: string): Promise<void> {
    try {
      await this.claims.claim(tenantId, id, []);
      await this.db
        .deleteFrom('pools')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .execute();
    } catch (error) {
      throw translateConstraintError(error, {
        foreignKey: () =>
          new ConflictError(
            `pool ${tenantId}/${id} still has instances; delete its instances first`,
            { tenantId, poolId: id },
          ),
      });
    }
  }
}

function patchColumns(patch: PoolPatch): Updateable<PoolsTable> {
  const columns: Updateable<PoolsTable> = {};
  if (patch.counts !== undefined) {
    columns.desired_running = patch.counts.running;
    columns.desired_warm = patch.counts.warm;
    columns.desired_sleeping = patch.counts.sleeping;
  }
  if (patch.revision !== undefined) columns.revision = patch.revision;
  if (patch.image !== undefined) columns.image = patch.image;
  if (patch.flake !== undefined) columns.flake = patch.flake ?? '';
  if (patch.profile !== undefined) columns.profile = patch.profile ?? '';
  if (patch.pinned !== undefined) columns.pinned = patch.pinned ? 1 : 0;
  if (patch.critical !== undefined) columns.critical = patch.critical ? 1 : 0;
  if (patch.minRunningSecs !== undefined) columns.min_running_secs = patch.minRunningSecs;
  if (patch.minWarmSecs !== undefined) columns.min_warm_secs = patch.minWarmSecs;
  if (patch.idleWarmAfterSecs !== undefined) columns.idle_warm_after_secs = patch.idleWarmAfterSecs;
  if (patch.idleSleepAfterSecs !== undefined)
    columns.idle_sleep_after_secs = patch.idleSleepAfterSecs;
  if (patch.servicePorts !== undefined) columns.service_ports = JSON.stringify(patch.servicePorts);
  if (patch.publish !== undefined) columns.published_ports = JSON.stringify(patch.publish);
  if (patch.hooks !== undefined) columns.hooks = JSON.stringify(patch.hooks);
  if (patch.queueScale !== undefined) {
    columns.queue_min = patch.queueScale?.min ?? null;
    columns.queue_max = patch.queueScale?.max ?? null;
    columns.queue_shrink_after_secs = patch.queueScale?.shrinkAfterSecs ?? null;
  }
  if (patch.queueAdded !== undefined) columns.queue_added = patch.queueAdded;
  return columns;
}

function toRow(p: Pool): PoolRow {
  return {
    tenant_id: p.tenantId,
    id: p.id,
    role: p.role,
    image: p.image,
    flake: p.flake ?? '',
    profile: p.profile ?? '',
    revision: p.revision,
    vcpus: p.vcpus,
    mem_mib: p.memMib,
    data_disk_mib: p.dataDiskMib,
    desired_running: p.counts.running,
    desired_warm: p.counts.warm,
    desired_sleeping: p.counts.sleeping,
    pinned: p.pinned ? 1 : 0,
    critical: p.critical ? 1 : 0,
    min_running_secs: p.minRunningSecs,
    min_warm_secs: p.minWarmSecs,
    idle_warm_after_secs: p.idleWarmAfterSecs,
    idle_sleep_after_secs: p.idleSleepAfterSecs,
    service_ports: JSON.stringify(p.servicePorts),
    queue_min: p.queueScale?.min ?? null,
    queue_max: p.queueScale?.max ?? null,
    queue_shrink_after_secs: p.queueScale?.shrinkAfterSecs ?? null,
    queue_added: p.queueAdded ?? 0,
    published_ports: JSON.stringify(p.publish ?? []),
    hooks: JSON.stringify(p.hooks ?? {}),
    created_at: p.createdAt,
    updated_at: p.updatedAt,
    version: p.version,
  };
}

function fromRow(r: PoolRow): Pool {
  return {
    tenantId: r.tenant_id,
    id: r.id,
    role: oneOf(roles, r.role, 'pools.role'),
    image: r.image,
    flake: r.flake === '' ? null : r.flake,
    profile: r.profile === '' ? null : r.profile,
    revision: r.revision,
    vcpus: r.vcpus,
    memMib: r.mem_mib,
    dataDiskMib: r.data_disk_mib,
    counts: { running: r.desired_running, warm: r.desired_warm, sleeping: r.desired_sleeping },
    pinned: r.pinned === 1,
    critical: r.critical === 1,
    minRunningSecs: r.min_running_secs,
    minWarmSecs: r.min_warm_secs,
    idleWarmAfterSecs: r.idle_warm_after_secs,
    idleSleepAfterSecs: r.idle_sleep_after_secs,
    servicePorts: portsOf(r.service_ports),
    publish: publishedOf(r.published_ports),
    hooks: hooksOf(r.hooks),
    queueScale: queueScaleOf(r),
    ...(r.queue_added > 0 ? { queueAdded: r.queue_added } : {}),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    version: r.version,
  };
}

function queueScaleOf(r: PoolRow): Pool['queueScale'] {
  if (r.queue_min === null || r.queue_max === null) return null;
  const scale = { min: r.queue_min, max: r.queue_max };
  const after = r.queue_shrink_after_secs;
  return after === null ? scale : { ...scale, shrinkAfterSecs: after };
}

/** The stored service ports: a JSON array of port numbers; anything else is a corrupt row. */
function portsOf(text: string): number[] {
  const value: unknown = JSON.parse(text);
  if (Array.isArray(value) && value.every((p) => Number.isInteger(p))) return value as number[];
  throw new InternalError(`pools.service_ports holds ${text}, not a list of ports`);
}

import { sql, type Kysely, type Selectable } from 'kysely';
import { AlreadyExistsError, ConflictError, NotFoundError } from '../../core/errors.ts';
import type { Quotas } from '../../core/model.ts';
import type { TenantPatch, TenantRecord, TenantRepo } from '../../ports/store.ts';
import { versionConflict } from '../cas-errors.ts';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import { translateConstraintError } from '../constraint-error.ts';
import type { ConstraintRules } from '../constraint-error.ts';
import type { Database, TenantsTable } from '../schema.ts';
import { dialectOf } from '../sql-dialect.ts';
import { idsParam, isOneOf, type IdsParam } from './id-list.ts';

type TenantRow = Selectable<TenantsTable>;

/**
 * The tenant's row, locked until the transaction ends on Postgres (SQLite has one writer).
 * Every change of a tenant's intent takes it first: compiled once (db/compiled-statement.ts).
 */
export const tenantLockStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { id: string }) => {
    const query = db.selectFrom('tenants').selectAll().where('id', '=', p.id);
    return dialectOf(db) === 'postgres' ? query.forUpdate() : query;
  },
});

/** These tenants' rows (a document's tenants): one statement whatever their number. */
const tenantsOfStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { ids: IdsParam }) =>
    db
      .selectFrom('tenants')
      .selectAll()
      .where(isOneOf(db, 'id', p.ids))
      .orderBy('id'),
});

export class KyselyTenantRepo implements TenantRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly statements: CompiledStatements,
  ) {}

  async insert(tenant: TenantRecord): Promise<void> {
    try {
      await this.db.insertInto('tenants').values(toRow(tenant)).execute();
    } catch (error) {
      throw translateConstraintError(error, insertRules(tenant));
    }
  }

  async get(id: string): Promise<TenantRecord | undefined> {
    const row = await this.db
      .selectFrom('tenants')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && tenantFromRow(row);
  }

  /**
   * A row lock on Postgres (read committed: every later statement of the transaction sees what
   * the previous holder committed). SQLite transactions hold the database's write lock from
   * their BEGIN, so there the read alone is right.
   */
  async lock(id: string): Promise<TenantRecord | undefined> {
    const [row] = (await this.statements.execute(this.db, tenantLockStatement, { id })).rows;
    return row && tenantFromRow(row);
  }

  /** In byte order ("C"), the order callers that lock several tenants sort their ids in. */
  async lockAll(): Promise<void> {
    if (dialectOf(this.db) !== 'postgres') return;
    const byteOrder = sql`id collate "C"`;
    await this.db.selectFrom('tenants').select('id').orderBy(byteOrder).forUpdate().execute();
  }

  async list(filter: { ids?: readonly string[] } = {}): Promise<TenantRecord[]> {
    const { ids } = filter;
    if (ids === undefined) {
      return (await this.db.selectFrom('tenants').selectAll().orderBy('id').execute()).map(
        tenantFromRow,
      );
    }
    if (ids.length === 0) return [];
    const params = { ids: idsParam(this.db, ids) };
    return (await this.statements.execute(this.db, tenantsOfStatement, params)).rows.map(
      tenantFromRow,
    );
  }

  async networks(): Promise<Array<{ tenantId: string; netId: number; subnet: string }>> {
    const rows = await this.db
      .selectFrom('tenants')
      .select(['id', 'net_id', 'subnet'])
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ tenantId: r.id, netId: r.net_id, subnet: r.subnet }));
  }

  async update(
    id: string,
    patch: TenantPatch,
    expectedVersion: number,
    at: string,
  ): Promise<TenantRecord> {
    const columns = {
      ...(patch.quotas ? quotaColumns(patch.quotas) : {}),
      ...(patch.egress !== undefined ? { egress: patch.egress ? 1 : 0 } : {}),
      ...(patch.maxRunningJobs !== undefined ? { max_running_jobs: patch.maxRunningJobs } : {}),
    };
    const row = await this.db
      .updateTable('tenants')
      .set((eb) => ({ ...columns, updated_at: at, version: eb('version', '+', 1) }))
      .where('id', '=', id)
      .where('version', '=', expectedVersion)
      .returningAll()
      .executeTakeFirst();
    if (row) return tenantFromRow(row);
    const stored = await this.get(id);
    if (!stored) throw new NotFoundError('tenant', id);
    throw versionConflict(`tenant ${id}`, expectedVersion, stored.version);
  }

  async delete(id: string): Promise<void> {
    try {
      await this.db.deleteFrom('tenants').where('id', '=', id).execute();
    } catch (error) {
      throw translateConstraintError(error, {
        foreignKey: () =>
          new ConflictError(`tenant ${id} still has pools; delete its pools first`, {
            tenantId: id,
          }),
      });
    }
  }
}

function insertRules(tenant: TenantRecord): ConstraintRules {
  return {
    unique: [
      {
        constraint: 'tenants_pkey',
        columns: ['id'],
        error: () => new AlreadyExistsError('tenant', tenant.id),
      },
      {
        constraint: 'tenants_net_id_key',
        columns: ['net_id'],
        error: () =>
          new ConflictError(`tenant net id ${tenant.netId} is already in use by another tenant`, {
            field: 'netId',
            value: tenant.netId,
          }),
      },
      {
        constraint: 'tenants_subnet_key',
        columns: ['subnet'],
        error: () =>
          new ConflictError(`tenant subnet ${tenant.subnet} is already in use by another tenant`, {
            field: 'subnet',
            value: tenant.subnet,
          }),
      },
    ],
  };
}

function quotaColumns(q: Quotas) {
  return {
    max_vcpus: q.maxVcpus,
    max_mem_mib: q.maxMemMib,
    max_running: q.maxRunning,
    max_warm: q.maxWarm,
    max_pools: q.maxPools,
    max_instances_per_pool: q.maxInstancesPerPool,
    max_disk_gib: q.maxDiskGib,
  };
}

function toRow(t: TenantRecord): TenantRow {
  return {
    id: t.id,
    net_id: t.netId,
    subnet: t.subnet,
    gateway: t.gateway,
    ...quotaColumns(t.quotas),
    egress: t.egress ? 1 : 0,
    max_running_jobs: t.maxRunningJobs ?? null,
    created_at: t.createdAt,
    updated_at: t.updatedAt,
    version: t.version,
  };
}

/** A tenant's row as a record (the lock's answer included). */
export function tenantFromRow(r: TenantRow): TenantRecord {
  return {
    id: r.id,
    netId: r.net_id,
    subnet: r.subnet,
    gateway: r.gateway,
    quotas: {
      maxVcpus: r.max_vcpus,
      maxMemMib: r.max_mem_mib,
      maxRunning: r.max_running,
      maxWarm: r.max_warm,
      maxPools: r.max_pools,
      maxInstancesPerPool: r.max_instances_per_pool,
      maxDiskGib: r.max_disk_gib,
    },
    egress: r.egress === 1,
    ...(r.max_running_jobs === null ? {} : { maxRunningJobs: r.max_running_jobs }),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    version: r.version,
  };
}

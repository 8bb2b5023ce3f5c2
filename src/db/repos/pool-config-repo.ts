import type { Kysely, Selectable } from 'kysely';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import { NotFoundError } from '../../core/errors.ts';
import type { PoolConfigRecord, PoolConfigRepo } from '../../ports/store.ts';
import { versionConflict } from '../cas-errors.ts';
import { translateConstraintError } from '../constraint-error.ts';
import { stringMap } from '../row-values.ts';
import type { Database, PoolConfigsTable } from '../schema.ts';
import { idsParam, isOneOf, type IdsParam } from './id-list.ts';

type ConfigRow = Selectable<PoolConfigsTable>;

/** These tenants' pool configs (a document's tenants): one statement whatever their number. */
const ofTenantsStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { tenantIds: IdsParam }) =>
    db
      .selectFrom('pool_configs')
      .selectAll()
      .where(isOneOf(db, 'tenant_id', p.tenantIds))
      .orderBy('tenant_id')
      .orderBy('pool_id'),
});

export class KyselyPoolConfigRepo implements PoolConfigRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly statements: CompiledStatements,
  ) {}

  async get(tenantId: string, poolId: string): Promise<PoolConfigRecord | undefined> {
    const row = await this.db
      .selectFrom('pool_configs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('pool_id', '=', poolId)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async list(tenantId: string): Promise<PoolConfigRecord[]> {
    const rows = await this.db
      .selectFrom('pool_configs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('pool_id')
      .execute();
    return rows.map(fromRow);
  }

  async ofTenants(tenantIds: readonly string[]): Promise<PoolConfigRecord[]> {
    if (tenantIds.length === 0) return [];
    const params = { tenantIds: idsParam(this.db, tenantIds) };
    return (await this.statements.execute(this.db, ofTenantsStatement, params)).rows.map(fromRow);
  }

  async put(record: PoolConfigRecord, expectedVersion: number): Promise<PoolConfigRecord> {
    const row = toRow(record);
    if (expectedVersion === 0) {
      try {
        await this.db.insertInto('pool_configs').values(row).execute();
        return record;
      } catch (error) {
        throw translateConstraintError(error, {
          unique: [
            {
              constraint: 'pool_configs_pkey',
              columns: ['tenant_id', 'pool_id'],
              error: () => versionConflict(subject(record), 0, 1),
            },
          ],
          foreignKey: () => new NotFoundError('pool', `${record.tenantId}/${record.poolId}`),
        });
      }
    }
    const result = await this.db
      .updateTable('pool_configs')
      .set({ version: row.version, files: row.files, updated_at: row.updated_at })
      .where('tenant_id', '=', record.tenantId)
      .where('pool_id', '=', record.poolId)
      .where('version', '=', expectedVersion)
      .executeTakeFirst();
    if (result.numUpdatedRows !== 1n) throw await this.conflict(record, expectedVersion);
    return record;
  }

  async delete(tenantId: string, poolId: string): Promise<void> {
    await this.db
      .deleteFrom('pool_configs')
      .where('tenant_id', '=', tenantId)
      .where('pool_id', '=', poolId)
      .execute();
  }

  private async conflict(record: PoolConfigRecord, expected: number) {
    const stored = await this.get(record.tenantId, record.poolId);
    return versionConflict(subject(record), expected, stored?.version ?? 0);
  }
}

const subject = (c: PoolConfigRecord): string => `config of pool ${c.tenantId}/${c.poolId}`;

function toRow(c: PoolConfigRecord): ConfigRow {
  return {
    tenant_id: c.tenantId,
    pool_id: c.poolId,
    version: c.version,
    files: JSON.stringify(c.files),
    created_at: c.createdAt,
    updated_at: c.updatedAt,
  };
}

function fromRow(r: ConfigRow): PoolConfigRecord {
  return {
    tenantId: r.tenant_id,
    poolId: r.pool_id,
    version: r.version,
    files: stringMap(r.files, 'pool_configs.files'),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

import type { Kysely, Selectable } from 'kysely';
import { compiledStatement, type CompiledStatements } from '../compiled-statement.ts';
import { ConflictError, NotFoundError } from '../../core/errors.ts';
import type { SealedSecret, SecretRef, SecretRepo } from '../../ports/store.ts';
import { translateConstraintError } from '../constraint-error.ts';
import type { Database, SecretsTable } from '../schema.ts';
import { idsParam, isOneOf, type IdsParam } from './id-list.ts';

type SecretRow = Selectable<SecretsTable>;

/** '' stands for the whole tenant: one primary key spans both scopes. */
const poolColumn = (poolId: string | null): string => poolId ?? '';

/** These tenants' secrets (a document's tenants): one statement whatever their number. */
const ofTenantsStatement = compiledStatement({
  shape: () => null,
  build: (db: Kysely<Database>, _shape: null, p: { tenantIds: IdsParam }) =>
    db
      .selectFrom('secrets')
      .selectAll()
      .where(isOneOf(db, 'tenant_id', p.tenantIds))
      .orderBy('tenant_id')
      .orderBy('pool_id')
      .orderBy('name'),
});

export class KyselySecretRepo implements SecretRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly statements: CompiledStatements,
  ) {}

  async list(tenantId: string): Promise<SealedSecret[]> {
    const rows = await this.db
      .selectFrom('secrets')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('pool_id')
      .orderBy('name')
      .execute();
    return rows.map(fromRow);
  }

  async ofTenants(tenantIds: readonly string[]): Promise<SealedSecret[]> {
    if (tenantIds.length === 0) return [];
    const params = { tenantIds: idsParam(this.db, tenantIds) };
    return (await this.statements.execute(this.db, ofTenantsStatement, params)).rows.map(fromRow);
  }

  async get(ref: SecretRef): Promise<SealedSecret | undefined> {
    const row = await this.db
      .selectFrom('secrets')
      .selectAll()
      .where('tenant_id', '=', ref.tenantId)
      .where('pool_id', '=', poolColumn(ref.poolId))
      .where('name', '=', ref.name)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async put(secret: SealedSecret): Promise<void> {
    const row = toRow(secret);
    try {
      await this.db
        .insertInto('secrets')
        .values(row)
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'pool_id', 'name']).doUpdateSet({
            version: row.version,
            key_id: row.key_id,
            nonce: row.nonce,
            ciphertext: row.ciphertext,
            updated_at: row.updated_at,
          }),
        )
        .execute();
    } catch (error) {
      throw translateConstraintError(error, {
        foreignKey: () => new NotFoundError('tenant', secret.tenantId),
      });
    }
  }

  async delete(ref: SecretRef): Promise<boolean> {
    const result = await this.db
      .deleteFrom('secrets')
      .where('tenant_id', '=', ref.tenantId)
      .where('pool_id', '=', poolColumn(ref.poolId))
      .where('name', '=', ref.name)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async deleteAll(tenantId: string, poolId?: string): Promise<number> {
    let query = this.db.deleteFrom('secrets').where('tenant_id', '=', tenantId);
    if (poolId !== undefined) query = query.where('pool_id', '=', poolId);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async keyUse(): Promise<Array<{ keyId: string; count: number }>> {
    const rows = await this.db
      .selectFrom('secrets')
      .select((eb) => ['key_id', eb.fn.countAll<number | string | bigint>().as('count')])
      .groupBy('key_id')
      .orderBy('key_id')
      .execute();
    return rows.map((r) => ({ keyId: r.key_id, count: Number(r.count) }));
  }

  async sealedUnder(notKeyId: string): Promise<SealedSecret[]> {
    const rows = await this.db
      .selectFrom('secrets')
      .selectAll()
      .where('key_id', '!=', notKeyId)
      .orderBy('tenant_id')
      .orderBy('pool_id')
      .orderBy('name')
      .execute();
    return rows.map(fromRow);
  }

  async reseal(
    previous: SealedSecret,
    next: Pick<SealedSecret, 'keyId' | 'nonce' | 'ciphertext'>,
  ): Promise<void> {
    const result = await this.db
      .updateTable('secrets')
      .set({ key_id: next.keyId, nonce: next.nonce, ciphertext: next.ciphertext })
      .where('tenant_id', '=', previous.tenantId)
      .where('pool_id', '=', poolColumn(previous.poolId))
      .where('name', '=', previous.name)
      .where('version', '=', previous.version)
      .where('key_id', '=', previous.keyId)
      .executeTakeFirst();
    if (result.numUpdatedRows !== 1n) {
      const where = `${previous.tenantId}${previous.poolId ? `/${previous.poolId}` : ''}`;
      throw new ConflictError(
        `secret ${previous.name} of ${where} changed while it was being resealed; run the rotation again`,
      );
    }
  }
}

function toRow(s: SealedSecret): SecretRow {
  return {
    tenant_id: s.tenantId,
    pool_id: poolColumn(s.poolId),
    name: s.name,
    version: s.version,
    key_id: s.keyId,
    nonce: s.nonce,
    ciphertext: s.ciphertext,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
  };
}

function fromRow(r: SecretRow): SealedSecret {
  return {
    tenantId: r.tenant_id,
    poolId: r.pool_id === '' ? null : r.pool_id,
    name: r.name,
    version: r.version,
    keyId: r.key_id,
    nonce: r.nonce,
    ciphertext: r.ciphertext,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

import type { Kysely, Selectable } from 'kysely';
import { AlreadyExistsError, ConflictError, NotFoundError } from '../../core/errors.ts';
import type { TokenRecord, TokenRepo } from '../../ports/store.ts';
import { translateConstraintError } from '../constraint-error.ts';
import type { ApiTokensTable, Database } from '../schema.ts';

type TokenRow = Selectable<ApiTokensTable>;

export class KyselyTokenRepo implements TokenRepo {
  constructor(
    private readonly db: Kysely<Database>,
    /** Told before each revocation (db/credential-cache.ts). */
    private readonly onRevoke?: () => void,
  ) {}

  async insert(token: TokenRecord): Promise<void> {
    try {
      await this.db.insertInto('api_tokens').values(toRow(token)).execute();
    } catch (error) {
      throw translateConstraintError(error, {
        unique: [
          {
            constraint: 'api_tokens_pkey',
            columns: ['id'],
            error: () => new AlreadyExistsError('token', token.id),
          },
          {
            constraint: 'api_tokens_hash_key',
            columns: ['hash'],
            // Never echo the hash: it identifies a live secret.
            error: () =>
              new ConflictError(
                `token ${token.id}: its hash is already in use; issue a new secret`,
                {
                  field: 'hash',
                },
              ),
          },
        ],
      });
    }
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const row = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async findByHash(hash: string): Promise<TokenRecord | undefined> {
    const row = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('hash', '=', hash)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async list(filter: { tenantId?: string; admin?: boolean } = {}): Promise<TokenRecord[]> {
    let query = this.db.selectFrom('api_tokens').selectAll();
    if (filter.tenantId !== undefined) query = query.where('tenant_id', '=', filter.tenantId);
    if (filter.admin !== undefined) {
      query = query.where('tenant_id', filter.admin ? 'is' : 'is not', null);
    }
    const rows = await query.orderBy('id').execute();
    return rows.map(fromRow);
  }

  /** Idempotent: revoking a revoked token keeps the first revocation time. */
  async revoke(id: string, at: string): Promise<void> {
    this.onRevoke?.();
    const result = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (result.numUpdatedRows > 0n) return;
    const exists = await this.db
      .selectFrom('api_tokens')
      .select('id')
      .where('id', '=', id)
      .executeTakeFirst();
    if (!exists) throw new NotFoundError('token', id);
  }

  async touch(id: string, at: string, staleBefore: string): Promise<boolean> {
    const result = await this.db
      .updateTable('api_tokens')
      .set({ last_used_at: at })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', staleBefore)]))
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }
}

function toRow(t: TokenRecord): TokenRow {
  return {
    id: t.id,
    hash: t.hash,
    tenant_id: t.tenantId,
    name: t.name,
    created_at: t.createdAt,
    revoked_at: t.revokedAt,
    expires_at: t.expiresAt,
    last_used_at: t.lastUsedAt,
  };
}

function fromRow(r: TokenRow): TokenRecord {
  return {
    id: r.id,
    hash: r.hash,
    tenantId: r.tenant_id,
    name: r.name,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
  };
}

import type { Kysely, Selectable } from 'kysely';
import { AlreadyExistsError, ConflictError } from '../../core/errors.ts';
import type {
  SessionTicketKind,
  SessionTicketRecord,
  SessionTicketRepo,
} from '../../ports/store.ts';
import { translateConstraintError } from '../constraint-error.ts';
import type { Database, SessionTicketsTable } from '../schema.ts';

type SessionTicketRow = Selectable<SessionTicketsTable>;

export class KyselySessionTicketRepo implements SessionTicketRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(ticket: SessionTicketRecord): Promise<void> {
    try {
      await this.db.insertInto('session_tickets').values(toRow(ticket)).execute();
    } catch (error) {
      throw translateConstraintError(error, {
        unique: [
          {
            constraint: 'session_tickets_pkey',
            columns: ['id'],
            error: () => new AlreadyExistsError('session ticket', ticket.id),
          },
          {
            constraint: 'session_tickets_hash_key',
            columns: ['hash'],
            // Never echo the hash: it identifies a live secret.
            error: () => new ConflictError(`session ticket ${ticket.id}: mint a new one`),
          },
        ],
      });
    }
  }

  async findByHash(hash: string): Promise<SessionTicketRecord | undefined> {
    const row = await this.db
      .selectFrom('session_tickets')
      .selectAll()
      .where('hash', '=', hash)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  /** One conditional UPDATE: of two racing uses of a ticket exactly one wins. */
  async consume(id: string, at: string): Promise<boolean> {
    const result = await this.db
      .updateTable('session_tickets')
      .set({ used_at: at })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('expires_at', '>', at)
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  async purgeExpired(before: string): Promise<number> {
    const result = await this.db
      .deleteFrom('session_tickets')
      .where('expires_at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function toRow(t: SessionTicketRecord): SessionTicketRow {
  return {
    id: t.id,
    hash: t.hash,
    tenant_id: t.tenantId,
    pool_id: t.poolId,
    instance_id: t.instanceId,
    kind: t.kind,
    scope_tenant_id: t.scopeTenantId,
    token_id: t.tokenId,
    token_name: t.tokenName,
    created_at: t.createdAt,
    expires_at: t.expiresAt,
    used_at: t.usedAt,
  };
}

function fromRow(r: SessionTicketRow): SessionTicketRecord {
  return {
    id: r.id,
    hash: r.hash,
    tenantId: r.tenant_id,
    poolId: r.pool_id,
    instanceId: r.instance_id,
    kind: r.kind as SessionTicketKind,
    scopeTenantId: r.scope_tenant_id,
    tokenId: r.token_id,
    tokenName: r.token_name,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    usedAt: r.used_at,
  };
}

import type { Kysely, Selectable } from 'kysely';
import { AlreadyExistsError, ConflictError } from '../../core/errors.ts';
import type { JoinTokenRecord, JoinTokenRepo } from '../../ports/store.ts';
import { translateConstraintError } from '../constraint-error.ts';
import type { Database, JoinTokensTable } from '../schema.ts';

type JoinTokenRow = Selectable<JoinTokensTable>;

export class KyselyJoinTokenRepo implements JoinTokenRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(token: JoinTokenRecord): Promise<void> {
    try {
      await this.db.insertInto('join_tokens').values(toRow(token)).execute();
    } catch (error) {
      throw translateConstraintError(error, {
        unique: [
          {
            constraint: 'join_tokens_pkey',
            columns: ['id'],
            error: () => new AlreadyExistsError('join token', token.id),
          },
          {
            constraint: 'join_tokens_hash_key',
            columns: ['hash'],
            // Never echo the hash: it identifies a live secret.
            error: () => new ConflictError(`join token ${token.id}: issue a new secret`),
          },
        ],
      });
    }
  }

  async findByHash(hash: string): Promise<JoinTokenRecord | undefined> {
    const row = await this.db
      .selectFrom('join_tokens')
      .selectAll()
      .where('hash', '=', hash)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  /** One conditional UPDATE: of two racing joins with the same token exactly one wins. */
  async consume(id: string, nodeId: string, at: string): Promise<boolean> {
    const result = await this.db
      .updateTable('join_tokens')
      .set({ used_at: at })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('expires_at', '>', at)
      .where((eb) => eb.or([eb('node_id', 'is', null), eb('node_id', '=', nodeId)]))
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }
}

function toRow(t: JoinTokenRecord): JoinTokenRow {
  return {
    id: t.id,
    hash: t.hash,
    node_id: t.nodeId,
    created_at: t.createdAt,
    expires_at: t.expiresAt,
    used_at: t.usedAt,
  };
}

function fromRow(r: JoinTokenRow): JoinTokenRecord {
  return {
    id: r.id,
    hash: r.hash,
    nodeId: r.node_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    usedAt: r.used_at,
  };
}

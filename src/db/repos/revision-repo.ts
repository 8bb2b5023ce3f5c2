import type { Kysely, Selectable } from 'kysely';
import type { z } from 'zod';
import { AlreadyExistsError, InternalError, NotFoundError } from '../../core/errors.ts';
import type { ArtifactRef, Revision, RevisionSource } from '../../core/revision.ts';
import { revisionManifestSchema, revisionSchema } from '../../contract/revisions.ts';
import type { RevisionRepo } from '../../ports/store.ts';
import { translateConstraintError } from '../constraint-error.ts';
import type { Database, RevisionsTable } from '../schema.ts';

type RevisionRow = Selectable<RevisionsTable>;

export class KyselyRevisionRepo implements RevisionRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(revision: Revision): Promise<void> {
    const path = `${revision.tenantId}/${revision.poolId}`;
    try {
      await this.db.insertInto('revisions').values(toRow(revision)).execute();
    } catch (error) {
      throw translateConstraintError(error, {
        unique: [
          {
            constraint: 'revisions_pkey',
            columns: ['tenant_id', 'pool_id', 'id'],
            error: () => new AlreadyExistsError('revision', `${path}@${revision.id}`),
          },
        ],
        foreignKey: () => new NotFoundError('pool', path),
      });
    }
  }

  async get(tenantId: string, poolId: string, id: string): Promise<Revision | undefined> {
    const row = await this.db
      .selectFrom('revisions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('pool_id', '=', poolId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async list(tenantId: string, poolId: string): Promise<Revision[]> {
    const rows = await this.db
      .selectFrom('revisions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('pool_id', '=', poolId)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute();
    return rows.map(fromRow);
  }

  async withId(id: string): Promise<Revision[]> {
    const rows = await this.db.selectFrom('revisions').selectAll().where('id', '=', id).execute();
    return rows.map(fromRow);
  }

  async ofPools(pools: ReadonlyArray<{ tenantId: string; poolId: string }>): Promise<Revision[]> {
    if (pools.length === 0) return [];
    const rows = await this.db
      .selectFrom('revisions')
      .selectAll()
      .where((eb) =>
        eb.or(
          pools.map((p) =>
            eb.and([eb('tenant_id', '=', p.tenantId), eb('pool_id', '=', p.poolId)]),
          ),
        ),
      )
      .execute();
    return rows.map(fromRow);
  }

  async all(): Promise<Revision[]> {
    const rows = await this.db.selectFrom('revisions').selectAll().execute();
    return rows.map(fromRow);
  }

  async deleteAll(tenantId: string, poolId: string): Promise<number> {
    const result = await this.db
      .deleteFrom('revisions')
      .where('tenant_id', '=', tenantId)
      .where('pool_id', '=', poolId)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

const artifactRefSchema = revisionManifestSchema.shape.kernel;
const sourceSchema = revisionSchema.shape.source;

/** Reads a JSON column through its schema: a row this version cannot read is an error. */
export function parseColumn<S extends z.ZodType>(schema: S, text: string, column: string) {
  const parsed = schema.safeParse(JSON.parse(text));
  if (parsed.success) return parsed.data as z.output<S>;
  throw new InternalError(
    `stored ${column} does not match this version of mvm: ${parsed.error.issues[0]?.message ?? ''}`,
    { column },
  );
}

export function artifactRefColumn(text: string | null, column: string): ArtifactRef | null {
  return text === null ? null : parseColumn(artifactRefSchema, text, column);
}

function toRow(r: Revision): RevisionRow {
  return {
    tenant_id: r.tenantId,
    pool_id: r.poolId,
    id: r.id,
    manifest: JSON.stringify(r.manifest),
    source: JSON.stringify(r.source),
    log: r.log === null ? null : JSON.stringify(r.log),
    built_by: r.builtBy,
    build_ms: r.buildMs,
    created_at: r.createdAt,
  };
}

function fromRow(r: RevisionRow): Revision {
  return {
    tenantId: r.tenant_id,
    poolId: r.pool_id,
    id: r.id,
    manifest: parseColumn(revisionManifestSchema, r.manifest, 'revisions.manifest'),
    source: parseColumn(sourceSchema, r.source, 'revisions.source') as RevisionSource,
    log: artifactRefColumn(r.log, 'revisions.log'),
    builtBy: r.built_by,
    buildMs: r.build_ms,
    createdAt: r.created_at,
  };
}

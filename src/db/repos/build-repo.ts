import type { Kysely, Selectable } from 'kysely';
import { NotFoundError } from '../../core/errors.ts';
import type { PoolSource } from '../../core/pool-source.ts';
import { buildStatuses } from '../../core/revision.ts';
import type { Build } from '../../core/revision.ts';
import { buildSchema } from '../../contract/revisions.ts';
import type { BuildOutcome, BuildRepo } from '../../ports/store.ts';
import { translateConstraintError } from '../constraint-error.ts';
import { oneOf } from '../row-values.ts';
import type { BuildsTable, Database } from '../schema.ts';
import { artifactRefColumn, parseColumn } from './revision-repo.ts';

type BuildRow = Selectable<BuildsTable>;

export class KyselyBuildRepo implements BuildRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(build: Build): Promise<void> {
    try {
      await this.db.insertInto('builds').values(toRow(build)).execute();
    } catch (error) {
      throw translateConstraintError(error, {
        foreignKey: () => new NotFoundError('pool', `${build.tenantId}/${build.poolId}`),
      });
    }
  }

  async get(id: string): Promise<Build | undefined> {
    const row = await this.db
      .selectFrom('builds')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async list(tenantId: string, poolId: string): Promise<Build[]> {
    const rows = await this.db
      .selectFrom('builds')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('pool_id', '=', poolId)
      .orderBy('started_at', 'desc')
      .orderBy('id')
      .execute();
    return rows.map(fromRow);
  }

  async finish(id: string, outcome: BuildOutcome): Promise<boolean> {
    const result = await this.db
      .updateTable('builds')
      .set({
        status: outcome.status,
        revision_id: outcome.revisionId,
        error: outcome.error,
        log: outcome.log === null ? null : JSON.stringify(outcome.log),
        finished_at: outcome.finishedAt,
      })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  async running(): Promise<Build[]> {
    const rows = await this.db
      .selectFrom('builds')
      .selectAll()
      .where('status', '=', 'running')
      .execute();
    return rows.map(fromRow);
  }

  async deleteAll(tenantId: string, poolId: string): Promise<number> {
    const result = await this.db
      .deleteFrom('builds')
      .where('tenant_id', '=', tenantId)
      .where('pool_id', '=', poolId)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function toRow(b: Build): BuildRow {
  return {
    id: b.id,
    tenant_id: b.tenantId,
    pool_id: b.poolId,
    status: b.status,
    source: JSON.stringify(b.source),
    revision_id: b.revisionId,
    error: b.error,
    log: b.log === null ? null : JSON.stringify(b.log),
    started_by: b.startedBy,
    started_at: b.startedAt,
    finished_at: b.finishedAt,
  };
}

function fromRow(r: BuildRow): Build {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    poolId: r.pool_id,
    status: oneOf(buildStatuses, r.status, 'builds.status'),
    source: parseColumn(buildSchema.shape.source, r.source, 'builds.source') as PoolSource,
    revisionId: r.revision_id,
    error: r.error,
    log: artifactRefColumn(r.log, 'builds.log'),
    startedBy: r.started_by,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

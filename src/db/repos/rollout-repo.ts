import type { Kysely, Selectable } from 'kysely';
import { ConflictError } from '../../core/errors.ts';
import { rolloutStates, type Rollout } from '../../core/rollout-plan.ts';
import type { RolloutRepo } from '../../ports/store.ts';
import { oneOf } from '../row-values.ts';
import type { Database, RolloutsTable } from '../schema.ts';

type RolloutRow = Selectable<RolloutsTable>;

export class KyselyRolloutRepo implements RolloutRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async get(tenantId: string, poolId: string): Promise<Rollout | undefined> {
    const row = await this.db
      .selectFrom('rollouts')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('pool_id', '=', poolId)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async active(): Promise<Rollout[]> {
    const rows = await this.db
      .selectFrom('rollouts')
      .selectAll()
      .where('state', 'in', ['running', 'rolling-back'])
      .orderBy('tenant_id')
      .orderBy('pool_id')
      .execute();
    return rows.map(fromRow);
  }

  async put(rollout: Rollout, expectedVersion: number): Promise<Rollout> {
    const row = toRow(rollout);
    if (expectedVersion === 0) {
      await this.db
        .deleteFrom('rollouts')
        .where('tenant_id', '=', rollout.tenantId)
        .where('pool_id', '=', rollout.poolId)
        .execute();
      await this.db.insertInto('rollouts').values(row).execute();
      return rollout;
    }
    const result = await this.db
      .updateTable('rollouts')
      .set(row)
      .where('tenant_id', '=', rollout.tenantId)
      .where('pool_id', '=', rollout.poolId)
      .where('version', '=', expectedVersion)
      .executeTakeFirst();
    if (result.numUpdatedRows !== 1n) {
      throw new ConflictError(
        `the rollout of ${rollout.tenantId}/${rollout.poolId} changed meanwhile; look again with 'mvm pool info'`,
      );
    }
    return rollout;
  }

  async delete(tenantId: string, poolId: string): Promise<void> {
    await this.db
      .deleteFrom('rollouts')
      .where('tenant_id', '=', tenantId)
      .where('pool_id', '=', poolId)
      .execute();
  }
}

function toRow(r: Rollout): RolloutRow {
  return {
    tenant_id: r.tenantId,
    pool_id: r.poolId,
    state: r.state,
    from_revision: r.from,
    to_revision: r.to,
    previous_revision: r.previous,
    canary: r.canary,
    max_unavailable: r.maxUnavailable,
    include_sleeping: r.includeSleeping ? 1 : 0,
    ready_timeout_ms: r.readyTimeoutMs,
    canaries_done: r.canariesDone ? 1 : 0,
    progress: JSON.stringify(r.progress),
    reason: r.reason,
    started_by: r.startedBy,
    started_at: r.startedAt,
    updated_at: r.updatedAt,
    finished_at: r.finishedAt,
    version: r.version,
  };
}

function fromRow(r: RolloutRow): Rollout {
  const progress = JSON.parse(r.progress) as Rollout['progress'];
  return {
    tenantId: r.tenant_id,
    poolId: r.pool_id,
    state: oneOf(rolloutStates, r.state, 'rollouts.state'),
    from: r.from_revision,
    to: r.to_revision,
    previous: r.previous_revision,
    canary: Number(r.canary),
    maxUnavailable: Number(r.max_unavailable),
    includeSleeping: Number(r.include_sleeping) === 1,
    readyTimeoutMs: Number(r.ready_timeout_ms),
    canariesDone: Number(r.canaries_done) === 1,
    progress,
    reason: r.reason,
    startedBy: r.started_by,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
    version: Number(r.version),
  };
}

import { Migrator } from 'kysely';
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import { errorMessage, InternalError } from '../core/errors.ts';
import { initialMigration } from './migrations/0001-initial.ts';
import { desiredGenerationsMigration } from './migrations/0002-desired-generations.ts';
import { nodeJoinMigration } from './migrations/0003-node-join.ts';
import { fleetHealthMigration } from './migrations/0004-fleet-health.ts';
import { poolSleepPolicyMigration } from './migrations/0005-pool-sleep-policy.ts';
import { pressureSleepMigration } from './migrations/0006-pressure-sleep.ts';
import { tokensMigration } from './migrations/0007-tokens.ts';
import { secretsMigration } from './migrations/0008-secrets.ts';
import { poolConfigEgressMigration } from './migrations/0009-pool-config-egress.ts';
import { nodeReportsMigration } from './migrations/0010-node-reports.ts';
import { instanceSleepForceMigration } from './migrations/0011-instance-sleep-force.ts';
import { revisionsMigration } from './migrations/0012-revisions.ts';
import { jobsMigration } from './migrations/0013-jobs.ts';
import { rolloutsMigration } from './migrations/0014-rollouts.ts';
import { jobEffectsMigration } from './migrations/0015-job-effects.ts';
import { idlePolicyMigration } from './migrations/0016-idle-policy.ts';
import { rolloutPreviousMigration } from './migrations/0017-rollout-previous.ts';
import { queueScaleMigration } from './migrations/0018-queue-scale.ts';
import { nodeAllocationsMigration } from './migrations/0019-node-allocations.ts';
import { instanceMovesMigration } from './migrations/0020-instance-moves.ts';
import { sessionTicketsMigration } from './migrations/0021-session-tickets.ts';
import { publishedPortsMigration } from './migrations/0022-published-ports.ts';
import { queueQuotaMigration } from './migrations/0024-queue-quota.ts';
import { poolWorkerSettingsMigration } from './migrations/0025-pool-worker-settings.ts';
import { movesDrainMigration } from './migrations/0026-moves-drain.ts';
import { instanceChangesMigration } from './migrations/0028-instance-changes.ts';
import { moveTargetsMigration } from './migrations/0032-move-targets.ts';
import { tombstoneHorizonMigration } from './migrations/0033-tombstone-horizon.ts';
import { reportDeltasMigration } from './migrations/0034-report-deltas.ts';
import { allocationsByTenantMigration } from './migrations/0035-allocations-by-tenant.ts';
import { nodeLoadsMigration } from './migrations/0037-node-loads.ts';
import { reliefAndHoldersMigration } from './migrations/0041-relief-and-holders.ts';
import { markChangesMigration } from './migrations/0042-mark-changes.ts';
import { moveReservationsMigration } from './migrations/0046-move-reservations.ts';
import { loweredAtMigration } from './migrations/0048-lowered-at.ts';
import { toggleCostMigration } from './migrations/0049-toggle-cost.ts';
import { scaleMembersMigration } from './migrations/0050-scale-members.ts';
import type { SqlDialect } from './sql-dialect.ts';
import type { Logger } from '../ports/logger.ts';

/** Every migration, in order, named by its file. Listed in code: nothing is discovered on disk. */
export function migrations(dialect: SqlDialect): Record<string, Migration> {
  return {
    '0001-initial': initialMigration(dialect),
    '0002-desired-generations': desiredGenerationsMigration(),
    '0003-node-join': nodeJoinMigration(),
    '0004-fleet-health': fleetHealthMigration(),
    '0005-pool-sleep-policy': poolSleepPolicyMigration(),
    '0006-pressure-sleep': pressureSleepMigration(),
    '0007-tokens': tokensMigration(),
    '0008-secrets': secretsMigration(),
    '0009-pool-config-egress': poolConfigEgressMigration(),
    '0010-node-reports': nodeReportsMigration(),
    '0011-instance-sleep-force': instanceSleepForceMigration(),
    '0012-revisions': revisionsMigration(),
    '0013-jobs': jobsMigration(dialect),
    '0014-rollouts': rolloutsMigration(),
    '0015-job-effects': jobEffectsMigration(),
    '0016-idle-policy': idlePolicyMigration(),
    '0017-rollout-previous': rolloutPreviousMigration(),
    '0018-queue-scale': queueScaleMigration(),
    '0019-node-allocations': nodeAllocationsMigration(dialect),
    '0020-instance-moves': instanceMovesMigration(),
    '0021-session-tickets': sessionTicketsMigration(),
    '0022-published-ports': publishedPortsMigration(),
    '0024-queue-quota': queueQuotaMigration(),
    '0025-pool-worker-settings': poolWorkerSettingsMigration(),
    '0026-moves-drain': movesDrainMigration(),
    '0028-instance-changes': instanceChangesMigration(),
    '0032-move-targets': moveTargetsMigration(),
    '0033-tombstone-horizon': tombstoneHorizonMigration(),
    '0034-report-deltas': reportDeltasMigration(),
    '0035-allocations-by-tenant': allocationsByTenantMigration(),
    '0037-node-loads': nodeLoadsMigration(dialect),
    '0041-relief-and-holders': reliefAndHoldersMigration(),
    '0042-mark-changes': markChangesMigration(),
    '0046-move-reservations': moveReservationsMigration(dialect),
    '0048-lowered-at': loweredAtMigration(),
    '0049-toggle-cost': toggleCostMigration(dialect),
    '0050-scale-members': scaleMembersMigration(dialect),
  };
}

function provider(dialect: SqlDialect): MigrationProvider {
  return { getMigrations: () => Promise.resolve(migrations(dialect)) };
}

/**
 * Brings the schema to the newest migration and returns the names it applied (none when it was
 * already current). Safe to run from several processes: Kysely takes a lock around the run.
 */
export async function migrateToLatest<DB>(
  db: Kysely<DB>,
  dialect: SqlDialect,
  logger?: Logger,
): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: provider(dialect),
    migrationTableName: 'mvm_migrations',
    migrationLockTableName: 'mvm_migrations_lock',
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  const failed = results.find((r) => r.status === 'Error');
  if (error !== undefined || failed !== undefined) {
    const name = failed?.migrationName ?? 'run';
    const cause = errorMessage(error);
    throw new InternalError(
      `store migration ${name} failed on ${dialect}: ${cause}; the schema was left at the last good migration, fix the cause and open the store again`,
      { dialect, migration: name },
    );
  }
  const applied = results.map((r) => r.migrationName);
  for (const migration of applied) logger?.info({ dialect, migration }, 'applied store migration');
  return applied;
}

import { errorMessage, isMvmError, ValidationError } from '../../../core/errors.ts';
import type { ErrorCode } from '../../../core/errors.ts';
import {
  DEFAULT_RETENTION,
  planPoolGc,
  type PoolGcPlan,
  type Retention,
  type StoppedInstance,
} from '../../../core/pool-gc.ts';
import { arg, defineCommand, flag, option } from '../../command.ts';
import type { Block } from '../../render.ts';
import { duration, integer, poolPath } from '../../values.ts';

export interface PoolGcResult {
  pool: string;
  dryRun: boolean;
  retention: Retention;
  /** Destroyed (or, on a dry run, to destroy). */
  destroyed: StoppedInstance[];
  kept: StoppedInstance[];
  /** Instances that changed since they were read (e.g. scaled up again): left alone. */
  skipped: Array<{ id: string; error: string }>;
  revisions: PoolGcPlan['revisions'];
}

/** An instance that changed since it was read, or went meanwhile: not this run's to destroy. */
const LEFT_ALONE: ReadonlySet<ErrorCode> = new Set(['conflict', 'illegal_transition', 'not_found']);

function retentionOf(opts: { keep?: number; olderThan?: number }): Retention {
  if (opts.keep !== undefined && opts.olderThan !== undefined) {
    const problem = 'pass --keep or --older-than, not both';
    throw new ValidationError(problem, [problem]);
  }
  if (opts.keep !== undefined) return { keep: opts.keep };
  return opts.olderThan !== undefined ? { olderThanSecs: opts.olderThan } : DEFAULT_RETENTION;
}

const retentionText = (r: Retention): string =>
  'keep' in r
    ? `keep the ${r.keep} most recently stopped`
    : `keep those stopped under ${r.olderThanSecs}s ago`;

function revisionsText(r: PoolGcPlan['revisions']): string {
  const uses = r.inUse.map(
    (u) => `${u.revision ?? 'dev image'}${u.current ? ' (current)' : ''}: ${u.instances}`,
  );
  return [
    `revisions in use: ${uses.length === 0 ? 'none' : uses.join(', ')}`,
    "old revisions: the coordinator keeps no revision history, only the pool revision and each instance's; nothing else to forget",
  ].join('\n');
}

function gcBlocks(result: PoolGcResult): Block[] {
  const verb = result.dryRun ? 'would destroy' : 'destroyed';
  return [
    {
      kind: 'table',
      columns: ['INSTANCE', 'STATUS', 'STOPPED SINCE', 'ACTION'],
      rows: [
        ...result.destroyed.map((s) => [
          s.id,
          s.status,
          s.since,
          result.dryRun ? 'destroy' : 'destroyed',
        ]),
        ...result.kept.map((s) => [s.id, s.status, s.since, 'keep']),
        ...result.skipped.map((s) => [s.id, '-', '-', `skipped: ${s.error}`]),
      ],
      empty: `no stopped instances in ${result.pool}`,
    },
    {
      kind: 'text',
      text: `${result.pool}: ${verb} ${result.destroyed.length} stopped instance(s); retention: ${retentionText(result.retention)}\n${revisionsText(result.revisions)}`,
    },
  ];
}

export const poolGc = defineCommand({
  path: ['pool', 'gc'],
  description:
    'Destroy the stopped instances of a pool beyond a retention (default: keep the 2 most recently stopped), and show which image revisions its instances still run',
  args: { path: arg(poolPath, 'the pool') },
  options: {
    dryRun: flag('only list what would be destroyed'),
    keep: option(integer(0, 1_000_000), 'keep this many of the most recently stopped instances'),
    olderThan: option(duration, 'destroy instances stopped longer ago than this, e.g. 1h or 7d'),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    const retention = retentionOf(opts);
    const client = ctx.client();
    const { tenantId, poolId } = args.path;
    const pool = await client.call('getPool', { params: { tenant: tenantId, pool: poolId } });
    const instances = await client.call('listInstances', {
      query: { tenant: tenantId, pool: poolId },
    });
    const plan = planPoolGc(instances, {
      retention,
      nowMs: Date.now(),
      poolRevision: pool.revision,
    });
    const result: PoolGcResult = {
      pool: `${tenantId}/${poolId}`,
      dryRun: opts.dryRun ?? false,
      retention,
      destroyed: [],
      kept: plan.keep,
      skipped: [],
      revisions: plan.revisions,
    };
    for (const stopped of plan.destroy) {
      if (result.dryRun) {
        result.destroyed.push(stopped);
        continue;
      }
      try {
        // Compare-and-set on the version read: one scaled up again meanwhile is not destroyed.
        await client.call('instanceAction', {
          params: { tenant: tenantId, pool: poolId, instance: stopped.id },
          body: { action: 'destroy', expectedVersion: stopped.version },
        });
        result.destroyed.push(stopped);
      } catch (error) {
        if (!isMvmError(error) || !LEFT_ALONE.has(error.code)) throw error;
        result.skipped.push({ id: stopped.id, error: errorMessage(error) });
      }
    }
    return { data: result, human: gcBlocks(result) };
  },
});

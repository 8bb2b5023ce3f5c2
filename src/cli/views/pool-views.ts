import type { PoolDetailView, PoolView } from '../../contract/resources.ts';
import { QUEUE_SHRINK_AFTER_SECS } from '../../core/jobs/queue-shrink.ts';
import { describeSource, sourceOf } from '../../core/pool-source.ts';
import type { Block } from '../render.ts';
import { rolloutFields } from './rollout-views.ts';

/** How pools look to a human. */
export const countsText = (pool: PoolView): string =>
  `running ${pool.counts.running}, warm ${pool.counts.warm}, sleeping ${pool.counts.sleeping}`;

export function poolTable(pools: readonly PoolView[], tenantId: string): Block {
  return {
    kind: 'table',
    columns: [
      'POOL',
      'ROLE',
      'VCPUS',
      'MEM MIB',
      'DISK MIB',
      'RUNNING',
      'WARM',
      'SLEEPING',
      'REVISION',
    ],
    rows: pools.map((p) => [
      `${p.tenantId}/${p.id}`,
      p.role,
      String(p.vcpus),
      String(p.memMib),
      String(p.dataDiskMib),
      String(p.counts.running),
      String(p.counts.warm),
      String(p.counts.sleeping),
      p.revision ?? '-',
    ]),
    empty: `tenant '${tenantId}' has no pools; create one with 'mvm pool create ${tenantId}/<pool> --cpus <n> --mem <MiB>' (add --image <ref> or --flake <ref> --profile <name> for your own image)`,
  };
}

/** `mvm pool autoscale --queue`: off, or its bounds and when the queue's workers go again. */
function queueScaleText(scale: PoolView['queueScale']): string {
  if (!scale) return 'off';
  const after = scale.shrinkAfterSecs ?? QUEUE_SHRINK_AFTER_SECS;
  return `by the job queue, ${scale.min} to ${scale.max} workers awake; added workers go after ${after} s of empty queue`;
}

export function poolFields(pool: PoolView): Block {
  return {
    kind: 'fields',
    fields: [
      ['pool', `${pool.tenantId}/${pool.id}`],
      ['role', pool.role],
      ['source', describeSource(sourceOf(pool))],
      ['revision', pool.revision ?? "dev (each node's dev image)"],
      ['vcpus', String(pool.vcpus)],
      ['memory MiB', String(pool.memMib)],
      ['data disk MiB', String(pool.dataDiskMib)],
      ['desired', countsText(pool)],
      ['pinned', pool.pinned ? 'yes' : 'no'],
      ['critical', pool.critical ? 'yes' : 'no'],
      ['min running', `${pool.minRunningSecs} s`],
      ['min warm', `${pool.minWarmSecs} s`],
      ['idle warm after', pool.idleWarmAfterSecs === 0 ? 'never' : `${pool.idleWarmAfterSecs} s`],
      [
        'idle sleep after',
        pool.idleSleepAfterSecs === 0 ? 'never' : `${pool.idleSleepAfterSecs} s`,
      ],
      ['service ports', pool.servicePorts.length === 0 ? 'none' : pool.servicePorts.join(', ')],
      ['published', publishText(pool.publish)],
      ['queue autoscale', queueScaleText(pool.queueScale)],
      ...hookFields(pool.hooks),
      ['created', pool.createdAt],
      ['version', String(pool.version)],
    ],
  };
}

export function poolDetailBlocks(pool: PoolDetailView): Block[] {
  const statuses = Object.entries(pool.statuses)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${status} ${n}`)
    .join(', ');
  return [
    poolFields(pool),
    {
      kind: 'fields',
      fields: [['instances', `${pool.instances}${statuses === '' ? '' : ` (${statuses})`}`]],
    },
    ...(pool.rollout ? [rolloutFields(pool.rollout)] : []),
  ];
}

/** One line per hook the pool has, its argv as JSON. */
function hookFields(hooks: Record<string, string[]> | undefined): Array<[string, string]> {
  return Object.entries(hooks ?? {}).map(([name, argv]) => [`hook ${name}`, JSON.stringify(argv)]);
}

/** `18789→18789, 8080→80`, or none. */
export function publishText(
  ports: ReadonlyArray<{ hostPort: number; guestPort: number }> | undefined,
): string {
  const list = ports ?? [];
  return list.length === 0 ? 'none' : list.map((p) => `${p.hostPort}→${p.guestPort}`).join(', ');
}

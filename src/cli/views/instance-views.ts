import type { InstanceView } from '../../contract/resources.ts';
import { DEV_REVISION, isRevisionId } from '../../core/revision.ts';
import type { Block } from '../render.ts';

/** A built revision's id as `pool revisions` shows it (12 digits); `dev` as it is. */
const shortRevision = (revision: string): string =>
  isRevisionId(revision) ? revision.slice(0, 12) : revision;

/** How instances look to a human. */
export const instancePathOf = (i: Pick<InstanceView, 'tenantId' | 'poolId' | 'id'>): string =>
  `${i.tenantId}/${i.poolId}/${i.id}`;

export function instanceTable(instances: readonly InstanceView[]): Block {
  return {
    kind: 'table',
    columns: ['INSTANCE', 'STATUS', 'DESIRED', 'IP', 'NODE', 'REVISION'],
    rows: instances.map((i) => [
      instancePathOf(i),
      i.status === 'failed' && i.failureReason ? `failed: ${brief(i.failureReason)}` : i.status,
      i.desiredStatus,
      i.ip,
      i.nodeId ?? '-',
      // Rows from before revisions were recorded ran the dev image, as a pool never built does.
      shortRevision(i.revision ?? DEV_REVISION),
    ]),
    empty: "no instances match; scale a pool with 'mvm pool scale <tenant/pool> --running <n>'",
  };
}

export function instanceFields(i: InstanceView): Block {
  return {
    kind: 'fields',
    fields: [
      ['instance', instancePathOf(i)],
      ['status', i.status],
      ['desired', desiredOf(i)],
      ...(i.failureReason === null ? [] : [['failure', i.failureReason] as const]),
      ['ip', i.ip],
      ['mac', i.mac],
      ['node', i.nodeId ?? '(not placed)'],
      ['revision', i.revision ?? DEV_REVISION],
      ['created', i.createdAt],
      ['updated', i.updatedAt],
      ['version', String(i.version)],
    ],
  };
}

/** The desired status, with why it is held below the place it holds, if it is. */
function desiredOf(i: InstanceView): string {
  if (i.idleSlot === null) return i.desiredStatus;
  if (i.pressureSleptAt !== null) {
    return `${i.desiredStatus} (waiting for room on its node; holds a ${i.idleSlot} place, raised when there is room)`;
  }
  return `${i.desiredStatus} (idle; holds a ${i.idleSlot} place, a wake brings it back)`;
}

/** Tables stay one line per instance; `mvm instance info` shows the whole reason. */
function brief(reason: string, max = 60): string {
  const line = reason.split('\n')[0] ?? reason;
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** One change of `instance list --watch`, on one line, as kubectl get -w prints them. */
export function instanceChangeLine(type: string, i: InstanceView): string {
  return [
    type.toUpperCase(),
    instancePathOf(i),
    i.status,
    i.desiredStatus,
    i.ip,
    i.nodeId ?? '-',
  ].join('  ');
}

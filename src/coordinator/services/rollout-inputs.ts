import type { Instance } from '../../core/model.ts';
import type { Rollout, RolloutInstance, RolloutSettings } from '../../core/rollout-plan.ts';
import { targetOf } from '../../core/rollout-plan.ts';
import type { InstanceSample } from '../../contract/node-report.ts';
import type { Repos } from '../../ports/store.ts';

/** Workload restarts on the new revision that count as a crash loop. */
export const CRASH_LOOP_RESTARTS = 3;

/** A workload run this long counts as stable (the guest's workload service resets its backoff then too). */
export const WORKLOAD_STABLE_MS = 10_000;

/** The planner's settings for a rollout as it stands (forwards, or back to `from`). */
export function settingsOf(rollout: Rollout): RolloutSettings {
  const back = rollout.state === 'rolling-back';
  return {
    target: targetOf(rollout),
    // Going back needs no canary: `from` ran before.
    canary: back ? 0 : rollout.canary,
    maxUnavailable: rollout.maxUnavailable,
    readyTimeoutMs: rollout.readyTimeoutMs,
    maxRestarts: CRASH_LOOP_RESTARTS,
    stableMs: WORKLOAD_STABLE_MS,
    includeSleeping: rollout.includeSleeping,
  };
}

/** The pool's instances as the planner sees them: records beside their nodes' last samples. */
export async function rolloutInstances(
  repos: Repos,
  instances: readonly Instance[],
): Promise<RolloutInstance[]> {
  const samples = await samplesOf(repos, instances);
  return instances.map((i) => {
    const sample = samples.get(`${i.tenantId}/${i.poolId}/${i.id}`);
    return {
      id: i.id,
      desiredStatus: i.desiredStatus,
      status: i.status,
      placed: i.nodeId !== null,
      revision: i.revision,
      pinnedRevision: i.pinnedRevision ?? null,
      pinnedAt: i.pinnedAt ?? null,
      statusSince: i.statusSince,
      ...(sample ? { sample: sampleOf(sample) } : {}),
    };
  });
}

function sampleOf(s: InstanceSample): NonNullable<RolloutInstance['sample']> {
  return {
    ...(s.status !== undefined ? { status: s.status } : {}),
    ...(s.revision !== undefined ? { revision: s.revision } : {}),
    ...(s.workload !== undefined ? { workload: s.workload } : {}),
  };
}

async function samplesOf(
  repos: Repos,
  instances: readonly Instance[],
): Promise<Map<string, InstanceSample>> {
  const nodes = [...new Set(instances.flatMap((i) => (i.nodeId === null ? [] : [i.nodeId])))];
  const out = new Map<string, InstanceSample>();
  for (const nodeId of nodes) {
    const report = await repos.nodeReports.get(nodeId);
    for (const s of report?.instances ?? []) out.set(`${s.tenant}/${s.pool}/${s.instance}`, s);
  }
  return out;
}

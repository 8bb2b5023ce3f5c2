import { isDeepStrictEqual } from 'node:util';
import type { Instance } from '../../core/model.ts';
import {
  targetOf,
  type Rollout,
  type RolloutProgressCounts,
  type RolloutStep,
} from '../../core/rollout-plan.ts';
import type { Repos } from '../../ports/store.ts';
import type { Principal } from '../principal.ts';
import { audit, type ServiceDeps } from './context.ts';

const SYSTEM: Principal = { kind: 'admin', tokenName: 'rollout' };

export interface StepOutcome {
  /** The rollout as stored after the step. */
  rollout: Rollout;
  /** Nodes whose documents changed. */
  nodes: string[];
}

export interface StepInput {
  rollout: Rollout;
  step: RolloutStep;
  /** The pool's instance records the step was planned from. */
  all: readonly Instance[];
  progress: RolloutProgressCounts;
  at: string;
}

/**
 * Writes what a planned step says: pins the instances it replaces (each an audit event with
 * the batch), records a failure, and keeps the rollout's progress; the state change that may
 * follow is the service's.
 */
export async function applyStep(
  repos: Repos,
  deps: ServiceDeps,
  input: StepInput,
): Promise<StepOutcome> {
  const { rollout, step, at } = input;
  const nodes = step.kind === 'replace' ? await pin(repos, input, step.ids) : [];
  if (step.kind === 'replace' || step.kind === 'failed') {
    await audit(repos, deps, SYSTEM, {
      tenantId: rollout.tenantId,
      action: eventOf(step),
      target: `${rollout.tenantId}/${rollout.poolId}`,
      detail: detailOf(step, targetOf(rollout)),
    });
  }
  const canariesDone = rollout.canariesDone || (step.kind !== 'done' && !step.canary);
  const progress =
    step.kind === 'replace' ? afterPinning(input.progress, step.ids.length) : input.progress;
  if (canariesDone === rollout.canariesDone && isDeepStrictEqual(progress, rollout.progress)) {
    return { rollout, nodes };
  }
  const next = { ...rollout, canariesDone, progress, updatedAt: at, version: rollout.version + 1 };
  await repos.rollouts.put(next, rollout.version);
  return { rollout: next, nodes };
}

/** Progress counts the instances just pinned as replacing (the planner saw them before). */
function afterPinning(progress: RolloutProgressCounts, pinned: number): RolloutProgressCounts {
  return { ...progress, replacing: progress.replacing + pinned };
}

function eventOf(step: Exclude<RolloutStep, { kind: 'done' } | { kind: 'wait' }>): string {
  if (step.kind === 'replace') return 'rollout.batch';
  return step.canary ? 'rollout.canary-failed' : 'rollout.batch-failed';
}

function detailOf(step: RolloutStep, target: string): Record<string, unknown> {
  if (step.kind === 'replace')
    return { instances: step.ids, canary: step.canary, revision: target };
  if (step.kind === 'failed') return { instance: step.id, reason: step.reason, revision: target };
  return {};
}

/** Pins each instance to the rollout's target; returns the nodes that run them. */
async function pin(repos: Repos, input: StepInput, ids: readonly string[]): Promise<string[]> {
  const target = targetOf(input.rollout);
  const nodes = new Set<string>();
  for (const id of ids) {
    const instance = input.all.find((i) => i.id === id);
    if (!instance) continue;
    const key = { tenantId: instance.tenantId, poolId: instance.poolId, instanceId: id };
    await repos.instances.update(
      key,
      { pinnedRevision: target, pinnedAt: input.at },
      instance.version,
      input.at,
    );
    if (instance.nodeId !== null) nodes.add(instance.nodeId);
  }
  return [...nodes];
}

/**
 * Ends the pins of a finished rollout: the pool's revision says the same from now on, and a
 * later change of it must not find instances held to an old one. Returns the nodes touched.
 */
export async function clearPins(repos: Repos, rollout: Rollout, at: string): Promise<string[]> {
  const instances = await repos.instances.list({
    tenantId: rollout.tenantId,
    poolId: rollout.poolId,
  });
  const nodes = new Set<string>();
  for (const i of instances) {
    if (!i.pinnedRevision) continue;
    const key = { tenantId: i.tenantId, poolId: i.poolId, instanceId: i.id };
    await repos.instances.update(key, { pinnedRevision: null, pinnedAt: null }, i.version, at);
    if (i.nodeId !== null) nodes.add(i.nodeId);
  }
  return [...nodes];
}

import { ConflictError } from '../../core/errors.ts';
import { DEV_REVISION } from '../../core/revision.ts';
import { previousOf, rollbackTarget } from '../../core/rollout-back.ts';
import {
  isActive,
  nextState,
  planRollout,
  progressOf,
  targetOf,
  type Rollout,
  type RolloutStep,
} from '../../core/rollout-plan.ts';
import type { Pool } from '../../core/model.ts';
import {
  startRolloutSchema,
  type RolloutView,
  type StartRolloutRequest,
} from '../../contract/rollouts.ts';
import type { Repos } from '../../ports/store.ts';
import type { Logger } from '../../ports/logger.ts';
import type { Principal } from '../principal.ts';
import { actorOf } from '../principal.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments } from './mark-documents.ts';
import { audit, type ServiceDeps } from './context.ts';
import { loadPool } from './pool-service.ts';
import { requireRevision } from './pool-source-update.ts';
import { rolloutInstances, settingsOf } from './rollout-inputs.ts';
import { applyStep, clearPins, type StepOutcome } from './rollout-steps.ts';

/** Rollouts act on one replica at a time, as the scheduler does. */
export const ROLLOUT_LOCK = 'mvm.rollouts';

const SYSTEM: Principal = { kind: 'admin', tokenName: 'rollout' };

/**
 * Rollouts: `start` switches the pool's revision and opens a record; `tick` (a timer on every
 * replica, and after each start) asks the planner for the next step and applies it: pins
 * instances to the target (their nodes restart them on it), turns a failed rollout back, ends a
 * finished one. `rollback` turns a running rollout back, or returns a finished one to `from`
 * (after one that turned back by itself, to the revision before: see core/rollout-back.ts).
 */
export class RolloutService {
  constructor(
    private readonly deps: ServiceDeps & { logger?: Logger },
    private readonly after: AfterWrite,
  ) {}

  async get(tenantId: string, poolId: string): Promise<RolloutView | null> {
    await loadPool(this.deps.store, tenantId, poolId);
    const rollout = await this.deps.store.rollouts.get(tenantId, poolId);
    return rollout ? viewOf(rollout) : null;
  }

  async start(
    principal: Principal,
    tenantId: string,
    poolId: string,
    request: StartRolloutRequest,
  ): Promise<RolloutView> {
    const asked = startRolloutSchema.parse(request);
    const rollout = await this.deps.store.transaction(async (repos) => {
      await repos.tenants.lock(tenantId);
      const pool = await loadPool(repos, tenantId, poolId);
      await requireRevision(repos, pool, asked.revision);
      const current = await repos.rollouts.get(tenantId, poolId);
      refuseActive(current, pool);
      const at = this.now();
      const opened: Rollout = {
        tenantId,
        poolId,
        state: 'running',
        from: pool.revision ?? DEV_REVISION,
        to: asked.revision,
        previous: previousOf(current, pool.revision ?? DEV_REVISION),
        canary: asked.canary,
        maxUnavailable: asked.maxUnavailable,
        includeSleeping: asked.includeSleeping,
        readyTimeoutMs: asked.readyTimeoutSecs * 1000,
        canariesDone: asked.canary === 0,
        progress: { total: 0, ready: 0, replacing: 0 },
        reason: null,
        startedBy: actorOf(principal),
        startedAt: at,
        updatedAt: at,
        finishedAt: null,
        version: 1,
      };
      await this.switchPool(repos, pool, asked.revision, at);
      await repos.rollouts.put(opened, 0);
      await audit(repos, this.deps, principal, {
        tenantId,
        action: 'rollout.started',
        target: `${tenantId}/${poolId}`,
        detail: {
          from: opened.from,
          to: opened.to,
          canary: opened.canary,
          maxUnavailable: opened.maxUnavailable,
        },
      });
      await markDocuments(repos, { tenants: [tenantId] });
      return opened;
    });
    this.after.wake({ tenants: [tenantId] });
    return (await this.tick(tenantId, poolId)) ?? viewOf(rollout);
  }

  async rollback(principal: Principal, tenantId: string, poolId: string): Promise<RolloutView> {
    const rollout = await this.deps.store.transaction(async (repos) => {
      await repos.tenants.lock(tenantId);
      const pool = await loadPool(repos, tenantId, poolId);
      const current = await repos.rollouts.get(tenantId, poolId);
      const at = this.now();
      const back = turnedBack(current, pool, actorOf(principal), at);
      await this.switchPool(repos, pool, back.from, at);
      await repos.rollouts.put(back, current?.state === 'running' ? current.version : 0);
      await audit(repos, this.deps, principal, {
        tenantId,
        action: 'rollout.rolling-back',
        target: `${tenantId}/${poolId}`,
        detail: { from: back.to, to: back.from, reason: back.reason },
      });
      await markDocuments(repos, { tenants: [tenantId] });
      return back;
    });
    this.after.wake({ tenants: [tenantId] });
    return (await this.tick(tenantId, poolId)) ?? viewOf(rollout);
  }

  /** Every active rollout one step on; a failure of one is logged and does not stop the rest. */
  async tickAll(): Promise<void> {
    for (const r of await this.deps.store.rollouts.active()) {
      try {
        await this.tick(r.tenantId, r.poolId);
      } catch (error) {
        this.deps.logger?.warn(
          { err: error, pool: `${r.tenantId}/${r.poolId}` },
          'rollout step failed; retrying',
        );
      }
    }
  }

  /**
   * One step of a pool's rollout, under the rollouts lock (undefined: another replica holds it,
   * or the pool has no active rollout).
   */
  async tick(tenantId: string, poolId: string): Promise<RolloutView | undefined> {
    const outcome = await this.deps.store.transaction(async (repos) => {
      if (!(await repos.locks.tryAcquire(ROLLOUT_LOCK))) return undefined;
      await repos.tenants.lock(tenantId);
      const rollout = await repos.rollouts.get(tenantId, poolId);
      if (!rollout || !isActive(rollout.state)) return undefined;
      const stepped = await this.step(repos, rollout);
      await markDocuments(repos, { nodes: stepped.nodes });
      return stepped;
    });
    if (!outcome) return undefined;
    if (outcome.nodes.length > 0) this.after.wake({ nodes: outcome.nodes });
    return viewOf(outcome.rollout);
  }

  private async step(repos: Repos, rollout: Rollout): Promise<StepOutcome> {
    const now = this.deps.clock.now();
    const all = await repos.instances.list({ tenantId: rollout.tenantId, poolId: rollout.poolId });
    const instances = await rolloutInstances(repos, all);
    const settings = settingsOf(rollout);
    const step: RolloutStep = planRollout(instances, settings, now.getTime(), rollout.canariesDone);
    const progress = progressOf(instances, settings, now.getTime());
    const outcome = await applyStep(repos, this.deps, {
      rollout,
      step,
      all,
      progress,
      at: now.toISOString(),
    });
    const state = nextState(rollout.state, step);
    if (state === rollout.state) return outcome;
    return this.changeState(repos, outcome, state, step);
  }

  /** A forwards failure turns the pool back to `from`; an end clears the pins. */
  private async changeState(
    repos: Repos,
    outcome: StepOutcome,
    state: Rollout['state'],
    step: RolloutStep,
  ): Promise<StepOutcome> {
    const { rollout } = outcome;
    const at = this.now();
    const pool = await loadPool(repos, rollout.tenantId, rollout.poolId);
    const reason = step.kind === 'failed' ? `${step.id}: ${step.reason}` : rollout.reason;
    const ended = !isActive(state);
    const changed: Rollout = {
      ...rollout,
      state,
      reason,
      canariesDone: state === 'rolling-back' ? true : rollout.canariesDone,
      updatedAt: at,
      finishedAt: ended ? at : null,
      version: rollout.version + 1,
    };
    if (state === 'rolling-back') await this.switchPool(repos, pool, rollout.from, at);
    const cleared = ended ? await clearPins(repos, rollout, at) : [];
    await repos.rollouts.put(changed, rollout.version);
    await audit(repos, this.deps, SYSTEM, {
      tenantId: rollout.tenantId,
      action: stateAction(state),
      target: `${rollout.tenantId}/${rollout.poolId}`,
      detail: { from: rollout.from, to: rollout.to, reason, progress: changed.progress },
    });
    return { rollout: changed, nodes: [...new Set([...outcome.nodes, ...cleared])] };
  }

  private async switchPool(repos: Repos, pool: Pool, revision: string, at: string): Promise<void> {
    if ((pool.revision ?? DEV_REVISION) === revision) return;
    await repos.pools.update(pool.tenantId, pool.id, { revision }, pool.version, at);
  }

  private now(): string {
    return this.deps.clock.now().toISOString();
  }
}

function refuseActive(current: Rollout | undefined, pool: Pool): void {
  if (current && isActive(current.state)) {
    throw new ConflictError(
      `${pool.tenantId}/${pool.id} already has a rollout ${current.state} to ${targetOf(current)} (started ${current.startedAt} by ${current.startedBy}); follow it with 'mvm pool info' or turn it back with 'mvm pool rollback'`,
    );
  }
}

/** What a rollback makes of the pool's rollout: the running one turned back, or a new one back. */
function turnedBack(current: Rollout | undefined, pool: Pool, actor: string, at: string): Rollout {
  const label = `${pool.tenantId}/${pool.id}`;
  if (current?.state === 'rolling-back') {
    throw new ConflictError(
      `${label} is already rolling back to ${current.from}; follow it with 'mvm pool info'`,
    );
  }
  const reason = `rolled back by ${actor}`;
  if (current?.state === 'running') {
    return {
      ...current,
      state: 'rolling-back',
      canariesDone: true,
      reason,
      updatedAt: at,
      version: current.version + 1,
    };
  }
  const now = pool.revision ?? DEV_REVISION;
  const back = rollbackTarget(current, now);
  if (!current || back.kind === 'none') {
    throw new ConflictError(
      `${label} has no previous revision to return to: no finished rollout brought it to ${now}; pick one with 'mvm pool rollout ${label} --revision R' ('mvm pool revisions ${label}')`,
    );
  }
  return {
    ...current,
    from: back.from,
    to: back.to,
    previous: back.previous,
    state: 'rolling-back',
    canariesDone: true,
    progress: { total: 0, ready: 0, replacing: 0 },
    reason,
    startedBy: actor,
    startedAt: at,
    updatedAt: at,
    finishedAt: null,
    version: 1,
  };
}

function stateAction(state: Rollout['state']): string {
  switch (state) {
    case 'rolling-back':
      return 'rollout.rolling-back';
    case 'done':
      return 'rollout.done';
    case 'rolled-back':
      return 'rollout.rolled-back';
    default:
      return `rollout.${state}`;
  }
}

export function viewOf(rollout: Rollout): RolloutView {
  return { ...rollout, target: targetOf(rollout) };
}

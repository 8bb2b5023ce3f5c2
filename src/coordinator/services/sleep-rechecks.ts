import { statusHeight, type Assignment } from '../../core/materializer.ts';
import type { Instance, Pool } from '../../core/model.ts';
import { writeAssignment } from './apply-assignments.ts';
import type { Repos } from '../../ports/store.ts';
import type { ServiceDeps } from './context.ts';
import { markDocuments } from './mark-documents.ts';
import { planPool } from './pool-service.ts';

export interface PoolRef {
  tenantId: string;
  poolId: string;
}

export interface RecheckResult {
  /** Instances whose desired status went down. */
  changed: Instance[];
  /** When demotions still put off fall due (ISO); absent when none are left. */
  recheckAt?: string;
}

const ACTOR = 'system:sleep-policy';

function isLive(i: Instance): boolean {
  return i.status !== 'destroyed' && i.desiredStatus !== 'destroyed';
}

function hasMinimum(pool: Pool): boolean {
  return pool.minRunningSecs > 0 || pool.minWarmSecs > 0;
}

/**
 * Carries out the demotions a pool's minimum times put off, once they fall due. A re-check
 * materializes the pool's current counts again and applies only what takes instances down:
 * it runs unasked, so anything that adds load (a promotion, a new instance) is left to an
 * explicit scale, and with only demotions no quota can be exceeded. Like a scale, it takes
 * down any instance above the counts whose minimum time is over, whoever started it.
 */
export class SleepRecheckService {
  constructor(private readonly deps: ServiceDeps) {}

  async recheckPool(ref: PoolRef): Promise<RecheckResult> {
    return this.deps.store.transaction(async (repos) => {
      await repos.tenants.lock(ref.tenantId);
      const pool = await repos.pools.get(ref.tenantId, ref.poolId);
      if (!pool) return { changed: [] };
      const instances = (await repos.instances.list(ref)).filter(isLive);
      const now = this.deps.clock.now();
      const at = now.toISOString();
      const plan = planPool(pool, instances, now);
      const due = demotions(instances, plan.assignments);
      if (due.length > 0) {
        // The demotions follow the counts read above. A compare-and-set on the pool's version
        // fails if a scale changed them since, and holds the row so none can until this
        // commits: two scales exclude each other the same way.
        await repos.pools.update(ref.tenantId, ref.poolId, {}, pool.version, at);
      }
      const changed = await demote(repos, due, at);
      if (changed.length > 0) {
        await repos.audit.append({
          tenantId: ref.tenantId,
          at,
          actor: ACTOR,
          action: 'pool.recheck',
          target: `${ref.tenantId}/${ref.poolId}`,
          detail: { changed: changed.map((i) => ({ id: i.id, to: i.desiredStatus })) },
        });
        await markDocuments(repos, { tenants: [ref.tenantId] });
      }
      return plan.recheckAt === undefined ? { changed } : { changed, recheckAt: plan.recheckAt };
    });
  }

  /**
   * Pools with a minimum time and something put off (at its due time) or already due (now):
   * what a coordinator that just started must re-check, since notes die with the process.
   */
  async pending(): Promise<Array<PoolRef & { at: string }>> {
    const pools = (await this.deps.store.pools.list()).filter(hasMinimum);
    if (pools.length === 0) return [];
    const instances = (await this.deps.store.instances.list()).filter(isLive);
    const now = this.deps.clock.now();
    const out: Array<PoolRef & { at: string }> = [];
    for (const pool of pools) {
      const mine = instances.filter((i) => i.tenantId === pool.tenantId && i.poolId === pool.id);
      const plan = planPool(pool, mine, now);
      const dueNow = demotions(mine, plan.assignments).length > 0;
      const at = dueNow ? now.toISOString() : plan.recheckAt;
      if (at !== undefined) out.push({ tenantId: pool.tenantId, poolId: pool.id, at });
    }
    return out;
  }
}

async function demote(repos: Repos, due: readonly Demotion[], at: string): Promise<Instance[]> {
  const changed: Instance[] = [];
  for (const { instance, assignment } of due) {
    changed.push(await writeAssignment(repos, instance, assignment, at));
  }
  return changed;
}

interface Demotion {
  instance: Instance;
  assignment: Assignment;
}

/** The assignments that take an instance down, with the instance as it was read. */
function demotions(instances: readonly Instance[], assignments: readonly Assignment[]): Demotion[] {
  const byId = new Map(instances.map((i) => [i.id, i]));
  return assignments.flatMap((assignment) => {
    const instance = byId.get(assignment.id);
    if (!instance) return [];
    // Held lower by pressure or idleness, it stands in its slot: leaving it is a demotion too
    // (an idle-held one moved to a lower slot that is still above where it is held keeps
    // being held, in that slot).
    const from =
      instance.idleSlot ?? (instance.pressureSleptAt === null ? instance.desiredStatus : 'warm');
    const to = assignment.idleSlot ?? assignment.desiredStatus;
    if (statusHeight[to] >= statusHeight[from]) return [];
    return [{ instance, assignment }];
  });
}

import { isDeepStrictEqual } from 'node:util';
import { isMvmError, NotFoundError } from '../../core/errors.ts';
import type { FleetNode, Pool } from '../../core/model.ts';
import {
  DEFAULT_NODE_LOST_AFTER_MS,
  heartbeatOverdue,
  moveLostReason,
  planNodeLoss,
  recoveredStatus,
  type LossAction,
} from '../../core/node-loss.ts';
import { leaseFor } from '../../core/node-lease.ts';
import { reportCredit } from '../../core/held-memory.ts';
import { overCapacity } from '../../core/overcommit-relief.ts';
import { advanceMove } from '../../core/instance-move.ts';
import type {
  ActivitySample,
  HeartbeatRequest,
  HeartbeatResult,
} from '../../contract/heartbeat.ts';
import type { Repos } from '../../ports/store.ts';
import type { DocumentChange } from '../desired/change-notifier.ts';
import { ActivitySeen } from './activity-seen.ts';
import { reportWrite, writeReport } from './report-write.ts';
import type { ServiceDeps } from './context.ts';
import { markDocuments } from './mark-documents.ts';
import { pressureNode } from './overcommit-lowering.ts';
import { SCHEDULER_LOCK } from './scheduler-lock.ts';
import { capacityShrank, type ScheduleOptions } from './scheduler-service.ts';

export interface NodeHealthDeps extends ServiceDeps {
  /** A ready node silent for longer than this is lost; default 30 s. */
  nodeLostAfterMs?: number;
}

/** What follows a change of where instances may run: placement, then waking the watchers. */
export interface AfterPlacementChange {
  place(change: DocumentChange, options?: ScheduleOptions): Promise<void>;
}

/**
 * How far, MiB, a node's memory credit falls below the highest since its last check before a
 * heartbeat reads its loads (`lowerIfCreditShrank`): above the drift of idle guests' resident
 * memory, so a steady node's heartbeats read nothing more.
 */
export const CREDIT_SHRINK_STEP_MIB = 64;

/** A node lost or back changes every tenant's peers that had instances there. */
const FLEET: DocumentChange = { fleet: true };

export interface NodeLoss {
  nodeId: string;
  /** `tenant/pool/instance` of each instance re-placed, critical pools first. */
  moved: string[];
  /** Pinned pools' instances left on the node as failed. */
  waiting: string[];
  /** Instances meant to be destroyed, whose records were deleted. */
  forgotten: string[];
}

/** Audit entries written by the coordinator itself rather than by a caller. */
const ACTOR = 'coordinator';

const pathOf = (i: { tenantId: string; poolId: string; id: string }) =>
  `${i.tenantId}/${i.poolId}/${i.id}`;

/**
 * The later of the stored and the reported activity time, when the report moves it forward.
 * A report is never taken to lie in the future: an agent's clock may run ahead of ours.
 */
export function advancedActivity(
  stored: string | null,
  reported: string,
  now: string,
): string | undefined {
  const at = Math.min(Date.parse(reported), Date.parse(now));
  if (Number.isNaN(at)) return undefined;
  if (stored !== null && Date.parse(stored) >= at) return undefined;
  return new Date(at).toISOString();
}

/** What recordActivity moved, and what each sampled instance then holds. */
interface ActivityOutcome {
  updated: number;
  held: Array<{ sample: ActivitySample; lastActiveAt: string | null }>;
}

/** The tenants whose instances a heartbeat's activity samples may move, in lock order. */
function activeTenants(samples: readonly ActivitySample[]): string[] {
  const active = samples.filter((s) => s.lastActiveAt !== undefined).map((s) => s.tenant);
  return [...new Set(active)].sort();
}

/** Every answer says deltas are taken; one whose delta found no base asks for a whole report. */
function reportAnswer(kept: boolean): Pick<HeartbeatResult, 'deltas' | 'fullReport'> {
  return kept ? { deltas: true } : { deltas: true, fullReport: true };
}

/** What another service keeps per node and drops when the node is lost (DesiredService). */
export interface NodeMemory {
  keptNodes(): Iterable<string>;
  forget(nodeId: string): number;
}

/**
 * Node liveness: heartbeats in, and the loss policy of core/node-loss.ts applied to nodes
 * that fall silent. Both run as single transactions, so a heartbeat racing a loss declaration
 * either lands before it (and the node is not lost) or fails its compare-and-set and the
 * agent's next heartbeat brings the node back.
 */
export class NodeHealthService {
  readonly lostAfterMs: number;
  /** What each heartbeat answer grants: the agent fences itself this long after sending it. */
  readonly leaseMs: number;
  /**
   * A committed loss or recovery whose placement failed: nothing else would place its
   * instances, since the node is no longer overdue, so the next loss check tries again.
   */
  private placementOwed = false;
  /** What each node's instances were seen to hold as activity time (activity-seen.ts). */
  private readonly seen = new ActivitySeen();
  /**
   * Each node's memory credit (core/held-memory.ts): the highest its reports seen here said
   * since its loads were last read for a shrink.
   */
  private readonly credits = new Map<string, number>();
  /** When this replica last looked for nodes lost or gone to forget (ms; see sweepLost). */
  private sweptAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: NodeHealthDeps,
    private readonly after: AfterPlacementChange,
    /** Issues the node's current document (a new generation when its content changed). */
    private readonly issue?: (nodeId: string) => Promise<{ generation: number }>,
    /** What else this replica keeps per node, forgotten with the node. */
    private readonly memory?: NodeMemory,
  ) {
    this.lostAfterMs = deps.nodeLostAfterMs ?? DEFAULT_NODE_LOST_AFTER_MS;
    this.leaseMs = leaseFor(this.lostAfterMs);
  }

  async heartbeat(nodeId: string, request: HeartbeatRequest): Promise<HeartbeatResult> {
    const result =
      (await this.quickBeat(nodeId, request)) ?? (await this.fullBeat(nodeId, request));
    await this.lowerIfCreditShrank(result.node);
    return result;
  }

  /**
   * A report crediting less memory than before (its guests hold more of theirs) may leave its
   * node over its capacity as placement counts it, with nothing the scheduler's probe sees:
   * when the credit is `CREDIT_SHRINK_STEP_MIB` or more below the highest seen since the last
   * such check and the node's loads then say it is over, its pass runs now and lowers what
   * the node holds beyond it (as for a capacity declared smaller). One read of the node's
   * loads per such shrink; none for the drift of idle guests' resident memory. A node less
   * than the step over, or over after a coordinator's start (the credits are this replica's
   * memory; the first report is compared with nothing), waits for the next pass run for
   * other work.
   */
  private async lowerIfCreditShrank(node: FleetNode): Promise<void> {
    const credit = reportCredit(node.usage);
    const high = this.credits.get(node.id);
    if (credit === undefined) {
      this.credits.delete(node.id);
      return;
    }
    if (high === undefined || credit > high) this.credits.set(node.id, credit);
    if (high === undefined || high - credit < CREDIT_SHRINK_STEP_MIB) return;
    this.credits.set(node.id, credit);
    const loads = await this.deps.store.nodes.loads({ nodeIds: [node.id] });
    if (overCapacity([pressureNode(node)], loads).length === 0) return;
    await this.placeAndNotify({}, { roomShrank: true });
  }

  /**
   * The common heartbeat (a known node, not lost, with the capacity and underlay it had):
   * the conditional update of the node's row, its report and the generation read in one
   * statement on Postgres (HeartbeatRepo.beat; in one commit on SQLite, Store.batch), and its
   * instances' activity only when a sample may move one forward. Each write stands alone:
   * a loss declared before the update makes it miss (the full path then recovers the node),
   * one declared after finds the node's version moved and declares nothing. Undefined when
   * the heartbeat needs the full path.
   */
  private async quickBeat(
    nodeId: string,
    request: HeartbeatRequest,
  ): Promise<HeartbeatResult | undefined> {
    const at = this.deps.clock.now().toISOString();
    const beat = await this.deps.store.batch((repos) =>
      repos.heartbeats.beat(
        nodeId,
        {
          lastHeartbeat: at,
          capacity: request.capacity,
          usage: request.usage,
          ...(request.underlayIp !== undefined ? { underlayIp: request.underlayIp } : {}),
        },
        reportWrite(nodeId, request, at),
      ),
    );
    if (!beat) return undefined;
    const { node, kept, generation: desiredGeneration } = beat;
    const moving = this.seen.moving(nodeId, request.instances, Date.parse(at));
    const activityUpdated =
      moving.length === 0
        ? 0
        : this.noteHeld(
            nodeId,
            await this.deps.store.transaction(async (repos) => {
              for (const tenantId of activeTenants(moving)) await repos.tenants.lock(tenantId);
              return this.recordActivity(repos, nodeId, moving, at);
            }),
            at,
          );
    return {
      node,
      recovered: false,
      activityUpdated,
      desiredGeneration,
      leaseMs: this.leaseMs,
      ...reportAnswer(kept),
    };
  }

  /** A heartbeat that may recover the node or change its capacity or underlay. */
  private async fullBeat(nodeId: string, request: HeartbeatRequest): Promise<HeartbeatResult> {
    const moving = request.instances.filter((s) => s.lastActiveAt !== undefined);
    const outcome = await this.deps.store.transaction(async (repos) => {
      // Activity moves instances' versions: under their tenants' locks, taken before the node's.
      for (const tenantId of activeTenants(moving)) await repos.tenants.lock(tenantId);
      const node = await repos.nodes.get(nodeId);
      if (!node) throw new NotFoundError('node', nodeId, "join the host with 'mvm add host'");
      const at = this.deps.clock.now().toISOString();
      const recovered = node.status === 'lost';
      const updated = await repos.nodes.update(
        nodeId,
        {
          lastHeartbeat: at,
          capacity: request.capacity,
          usage: request.usage,
          ...(request.underlayIp !== undefined ? { underlayIp: request.underlayIp } : {}),
          ...(recovered ? { status: recoveredStatus(node), lostFrom: null } : {}),
        },
        node.version,
      );
      if (recovered) {
        await this.record(repos, null, 'node.recovered', nodeId, {
          lastHeartbeat: node.lastHeartbeat,
          status: updated.status,
        });
      }
      const kept = await writeReport(repos, nodeId, request, at);
      const activity = await this.recordActivity(repos, nodeId, moving, at);
      // New capacity changes placement; a new underlay changes other nodes' VXLAN peers.
      const resized =
        !isDeepStrictEqual(node.capacity, updated.capacity) ||
        node.underlayIp !== updated.underlayIp;
      if (recovered || resized) await markDocuments(repos, FLEET);
      // Smaller than before: what the node holds may now be over it, lowered by the pass.
      const shrank = capacityShrank(node.capacity, updated.capacity);
      return { node: updated, recovered, activity, resized, shrank, at, kept };
    });
    const activityUpdated = this.noteHeld(nodeId, outcome.activity, outcome.at);
    if (outcome.recovered || outcome.resized) {
      await this.placeAndNotify(FLEET, { roomShrank: outcome.shrank });
    }
    const { node, recovered } = outcome;
    const desiredGeneration = await this.generationFor(nodeId, recovered);
    return {
      node,
      recovered,
      activityUpdated,
      desiredGeneration,
      leaseMs: this.leaseMs,
      ...reportAnswer(outcome.kept),
    };
  }

  /**
   * The generation the answer names. After a loss nobody has issued the node's document
   * since its instances moved (its agent was away), so it is issued now: the agent must not
   * take the stored, older one, which still names them, for current (core/node-lease.ts).
   */
  private async generationFor(nodeId: string, recovered: boolean): Promise<number> {
    if (recovered && this.issue) return (await this.issue(nodeId)).generation;
    return (await this.deps.store.generations.get(nodeId))?.generation ?? 0;
  }

  /**
   * Declares every overdue ready node lost and applies the loss policy to its instances, then
   * places what moved (or what an earlier failed placement left). `watchingSince` is when the
   * caller started watching (see heartbeatOverdue). Skips when another replica holds the
   * scheduler's lock.
   */
  async detectLost(watchingSince: Date): Promise<NodeLoss[]> {
    const losses = await this.deps.store.transaction(async (repos) => {
      if (!(await repos.locks.tryAcquire(SCHEDULER_LOCK))) return [];
      const now = this.deps.clock.now();
      const overdue = (await repos.nodes.list()).filter((n) =>
        heartbeatOverdue(n, now, this.lostAfterMs, watchingSince),
      );
      if (overdue.length === 0) return [];
      // Tenant locks before the node's, as every holder of both takes them.
      await repos.tenants.lockAll();
      const pools = await repos.pools.list();
      const out: NodeLoss[] = [];
      for (const node of overdue) out.push(await this.declareLost(repos, node, pools));
      await markDocuments(repos, FLEET);
      return out;
    });
    for (const loss of losses) this.forget(loss.nodeId);
    if (losses.length > 0 || this.placementOwed) {
      await this.placeAndNotify(losses.length > 0 ? FLEET : {});
    }
    await this.sweepLost();
    return losses;
  }

  /**
   * Forgets what this replica keeps for a node (its memory credit, its instances' activity
   * seen, its documents' state): on the replica that declares it lost, at once; on the
   * others at their next sweep. A node that comes back starts afresh. Answers how many
   * per-node maps held it (tests).
   */
  forget(nodeId: string): number {
    const here = [this.credits.delete(nodeId), this.seen.forget(nodeId)].filter(Boolean).length;
    return here + (this.memory?.forget(nodeId) ?? 0);
  }

  /**
   * On every replica, at most once per loss timeout: the nodes this replica keeps anything
   * for are read (by id, one statement) and those lost, or no longer registered, forgotten,
   * whichever replica declared the loss.
   */
  private async sweepLost(): Promise<void> {
    const nowMs = this.deps.clock.now().getTime();
    if (nowMs - this.sweptAtMs < this.lostAfterMs && nowMs >= this.sweptAtMs) return;
    this.sweptAtMs = nowMs;
    const kept = new Set([
      ...this.credits.keys(),
      ...this.seen.nodeIds(),
      ...(this.memory?.keptNodes() ?? []),
    ]);
    if (kept.size === 0) return;
    const nodes = await this.deps.store.nodes.list({ ids: [...kept] });
    const live = new Set(nodes.filter((n) => n.status !== 'lost').map((n) => n.id));
    for (const nodeId of kept) if (!live.has(nodeId)) this.forget(nodeId);
  }

  private async declareLost(repos: Repos, node: FleetNode, pools: Pool[]): Promise<NodeLoss> {
    const lostFrom = node.status === 'cordoned' ? 'cordoned' : 'ready';
    await repos.nodes.update(node.id, { status: 'lost', lostFrom }, node.version);
    const failedMoves = await this.failMoves(repos, node.id);
    const instances = await repos.instances.list({ nodeId: node.id });
    const loss: NodeLoss = { nodeId: node.id, moved: [], waiting: [], forgotten: [] };
    for (const action of planNodeLoss(node.id, instances, pools)) {
      await this.apply(repos, node.id, action, loss);
    }
    await this.record(repos, null, 'node.lost', node.id, {
      lastHeartbeat: node.lastHeartbeat,
      was: lostFrom,
      failedMoves,
      moved: loss.moved.length,
      waiting: loss.waiting.length,
      forgotten: loss.forgotten.length,
    });
    return loss;
  }

  /**
   * Moves under way from or to the lost node are given up: from it, the loss policy places the
   * instance again; to it, the instance stays on its source. Returns how many.
   */
  private async failMoves(repos: Repos, nodeId: string): Promise<number> {
    const at = this.deps.clock.now().toISOString();
    const moves = await repos.instanceMoves.activeOn(nodeId);
    for (const move of moves) {
      const side = move.sourceNode === nodeId ? 'source' : 'target';
      const reason = moveLostReason(nodeId, side);
      const failed = advanceMove(move, { kind: 'failed', reason });
      await repos.instanceMoves.update({ ...move, ...failed, updatedAt: at }, move.version);
      await this.record(
        repos,
        move.tenantId,
        'instance.move-failed',
        `${move.tenantId}/${move.poolId}/${move.instanceId}`,
        { move: move.id, from: move.sourceNode, to: move.targetNode, reason },
      );
    }
    return moves.length;
  }

  private async apply(repos: Repos, nodeId: string, action: LossAction, loss: NodeLoss) {
    const { instance } = action;
    const key = { tenantId: instance.tenantId, poolId: instance.poolId, instanceId: instance.id };
    const path = pathOf(instance);
    const at = this.deps.clock.now().toISOString();
    if (action.kind === 'forget') {
      await repos.instances.delete(key);
      loss.forgotten.push(path);
      return;
    }
    const move = action.kind === 'move';
    // The stored observed status is the compare-and-set's `from`.
    await repos.instances.transition(key, instance.status, move ? 'created' : 'failed', at, {
      failureReason: action.reason,
      ...(move ? { nodeId: null } : {}),
    });
    (move ? loss.moved : loss.waiting).push(path);
    await this.record(
      repos,
      instance.tenantId,
      move ? 'instance.reschedule' : 'instance.wait',
      path,
      {
        node: nodeId,
        status: instance.status,
        reason: action.reason,
      },
    );
  }

  /**
   * Moves lastActiveAt forward for the node's own instances; samples for others are ignored.
   * Answers what each instance holds afterwards, for noteHeld once the transaction commits.
   */
  private async recordActivity(
    repos: Repos,
    nodeId: string,
    samples: readonly ActivitySample[],
    at: string,
  ): Promise<ActivityOutcome> {
    const held: ActivityOutcome['held'] = [];
    if (!samples.some((s) => s.lastActiveAt !== undefined)) return { updated: 0, held };
    const placed = new Map((await repos.instances.list({ nodeId })).map((i) => [pathOf(i), i]));
    let updated = 0;
    for (const sample of samples) {
      const instance = placed.get(`${sample.tenant}/${sample.pool}/${sample.instance}`);
      if (!instance || sample.lastActiveAt === undefined) continue;
      const lastActiveAt = advancedActivity(instance.lastActiveAt, sample.lastActiveAt, at);
      if (lastActiveAt === undefined) {
        held.push({ sample, lastActiveAt: instance.lastActiveAt });
        continue;
      }
      const key = { tenantId: instance.tenantId, poolId: instance.poolId, instanceId: instance.id };
      try {
        await repos.instances.update(key, { lastActiveAt }, instance.version, at);
        held.push({ sample, lastActiveAt });
        updated += 1;
      } catch (error) {
        // Changed meanwhile (a status report): the next heartbeat carries the time again.
        if (!(isMvmError(error) && error.code === 'conflict')) throw error;
      }
    }
    return { updated, held };
  }

  /** What a committed recordActivity found each instance holding. */
  private noteHeld(nodeId: string, activity: ActivityOutcome, at: string): number {
    const now = Date.parse(at);
    for (const h of activity.held) this.seen.note(nodeId, h.sample, h.lastActiveAt, now);
    return activity.updated;
  }

  private async placeAndNotify(change: DocumentChange, options?: ScheduleOptions): Promise<void> {
    this.placementOwed = true;
    await this.after.place(change, options);
    this.placementOwed = false;
  }

  private async record(
    repos: Repos,
    tenantId: string | null,
    action: string,
    target: string,
    detail: Record<string, unknown>,
  ): Promise<void> {
    const at = this.deps.clock.now().toISOString();
    await repos.audit.append({ tenantId, at, actor: ACTOR, action, target, detail });
  }
}

import { planDrain, type DrainAction } from '../../core/drain-plan.ts';
import { ConflictError, NotFoundError } from '../../core/errors.ts';
import {
  moveRefusal,
  newMove,
  type InstanceMove,
  type RestoreStatus,
} from '../../core/instance-move.ts';
import type { Instance } from '../../core/model.ts';
import type { MoveInstanceRequest } from '../../contract/moves.ts';
import type { InstanceKey, Repos } from '../../ports/store.ts';
import { actorOf, type Principal } from '../principal.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments } from './mark-documents.ts';
import { audit, type ServiceDeps } from './context.ts';
import type { NodeService } from './node-service.ts';
import { loadPlacementView } from './placement-view.ts';
import { planRelocations, type WaitingRaise } from '../../core/raise-relocation.ts';
import { SCHEDULER_LOCK } from './scheduler-lock.ts';

const keyText = (k: InstanceKey) => `${k.tenantId}/${k.poolId}/${k.instanceId}`;

/** vCPUs and MiB the node has free now (capacity less what its running and warm hold). */
async function freeOn(repos: Repos, nodeId: string): Promise<{ vcpus: number; memMib: number }> {
  const view = await loadPlacementView(repos, 'none');
  const node = view.placementNodes.find((n) => n.id === nodeId);
  if (!node) return { vcpus: 0, memMib: 0 };
  return { vcpus: node.vcpus - node.usedVcpus, memMib: node.memMib - node.usedMemMib };
}

export interface DrainResult {
  node: string;
  moves: InstanceMove[];
  plan: DrainAction[];
}

/**
 * Asks for moves (core/instance-move.ts): one instance to a named node, or every movable
 * instance of a node being drained. It only writes the records; the nodes carry them out
 * (MoveReportService), the source first.
 */
export class MoveService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly after: Pick<AfterWrite, 'place' | 'wake'>,
    private readonly nodes: Pick<NodeService, 'setCordon'>,
  ) {}

  async get(id: string): Promise<InstanceMove> {
    const move = await this.deps.store.instanceMoves.get(id);
    if (!move) throw new NotFoundError('move', id, "see 'mvm instance move'");
    return move;
  }

  /** Moves a sleeping or stopped instance to `request.node`; refused (4xx) changing nothing. */
  async request(
    principal: Principal,
    key: InstanceKey,
    request: MoveInstanceRequest,
  ): Promise<InstanceMove> {
    const move = await this.deps.store.transaction(async (repos) => {
      // A woken move reserves its target's room from here on (migration 0046): checked and
      // taken under the scheduler's lock, like every raise, so two never take the same room.
      if (request.wake) await repos.locks.acquire(SCHEDULER_LOCK);
      const instance = await repos.instances.get(key);
      if (!instance || instance.desiredStatus === 'destroyed') {
        throw new NotFoundError('instance', keyText(key), "see 'mvm instance list'");
      }
      const move = await this.checked(repos, instance, request, actorOf(principal));
      await repos.instanceMoves.insert(move);
      await audit(repos, this.deps, principal, {
        tenantId: key.tenantId,
        action: 'instance.move',
        target: keyText(key),
        detail: { move: move.id, from: move.sourceNode, to: move.targetNode, wake: move.wake },
      });
      await markDocuments(repos, { nodes: [move.sourceNode, move.targetNode] });
      return move;
    });
    this.after.wake({ nodes: [move.sourceNode, move.targetNode] });
    return move;
  }

  private async checked(
    repos: Repos,
    instance: Instance,
    request: MoveInstanceRequest,
    requestedBy: string,
  ): Promise<InstanceMove> {
    const key = { tenantId: instance.tenantId, poolId: instance.poolId, instanceId: instance.id };
    const target = await repos.nodes.get(request.node);
    if (!target) throw new NotFoundError('node', request.node, "see 'mvm node list'");
    if (instance.nodeId === null) {
      throw new ConflictError(`${keyText(key)} is on no node: there is nothing to move`);
    }
    const pool = await repos.pools.get(instance.tenantId, instance.poolId);
    if (!pool) throw new NotFoundError('pool', `${instance.tenantId}/${instance.poolId}`);
    const refusal = moveRefusal({
      instance,
      pool,
      target,
      targetFree: await freeOn(repos, target.id),
      wake: request.wake,
      moveInProgress:
        (await repos.instanceMoves.activeFor(key.tenantId, key.poolId, key.instanceId)) !==
        undefined,
    });
    if (refusal !== undefined) {
      throw new ConflictError(`cannot move ${keyText(key)} to '${target.id}': ${refusal}`, {
        node: target.id,
      });
    }
    const restore = request.wake ? 'running' : null;
    return this.record(key, instance.nodeId, target.id, restore, null, requestedBy);
  }

  private record(
    key: InstanceKey,
    source: string,
    target: string,
    restore: RestoreStatus | null,
    drainOf: string | null,
    requestedBy: string,
  ): InstanceMove {
    const now = this.deps.clock.now().toISOString();
    return {
      ...newMove(source, target, restore !== null, restore),
      id: `mv-${this.deps.randomSuffix()}`,
      ...key,
      drainOf,
      requestedBy,
      createdAt: now,
      updatedAt: now,
      version: 1,
    };
  }

  /**
   * Drains a node: cordons it, then asks for one move per `move` action of its drain plan
   * (running and warm instances are told to sleep first and wake on the target), and puts
   * instances that never booted back to placement. Pinned ones wait. Idempotent: an instance
   * with a move under way keeps it.
   */
  async drain(principal: Principal, nodeId: string): Promise<DrainResult> {
    await this.nodes.setCordon(principal, nodeId, 'cordon');
    const { result, tenants } = await this.deps.store.transaction(async (repos) => {
      // Its restores reserve their targets' room as they are asked (migration 0046).
      await repos.locks.acquire(SCHEDULER_LOCK);
      const view = await loadPlacementView(repos, 'all');
      const instances = await repos.instances.list({ nodeId });
      const plan = planDrain({
        source: nodeId,
        instances,
        pools: view.pools,
        nodes: view.placementNodes.filter((n) => n.id !== nodeId),
      });
      const byKey = new Map(instances.map((i) => [`${i.tenantId}/${i.poolId}/${i.id}`, i]));
      const moves: InstanceMove[] = [];
      // Put back to placement, an instance may take its tenant off this node: every
      // document listing the tenant has its VXLAN peers (and cached inputs) to redo.
      const replaced = new Set<string>();
      for (const action of plan) {
        const instance = byKey.get(action.key);
        if (!instance) continue;
        const moved = await this.carryOut(repos, principal, nodeId, action, instance);
        if (moved) moves.push(moved);
        if (action.kind === 'replace') replaced.add(instance.tenantId);
      }
      const tenants = [...new Set([...moves.map((m) => m.tenantId), ...replaced])];
      await markDocuments(repos, { nodes: [nodeId, ...moves.map((m) => m.targetNode)], tenants });
      return { result: { node: nodeId, moves, plan }, tenants };
    });
    this.after.wake({ nodes: [nodeId, ...result.moves.map((m) => m.targetNode)] });
    await this.after.place({ tenants });
    return result;
  }

  private async carryOut(
    repos: Repos,
    principal: Principal,
    nodeId: string,
    action: DrainAction,
    instance: Instance,
  ): Promise<InstanceMove | undefined> {
    const key = { tenantId: instance.tenantId, poolId: instance.poolId, instanceId: instance.id };
    const at = this.deps.clock.now().toISOString();
    if (action.kind === 'replace') {
      await repos.instances.update(key, { nodeId: null }, instance.version, at);
      return undefined;
    }
    if (action.kind !== 'move') return undefined;
    const active = await repos.instanceMoves.activeFor(key.tenantId, key.poolId, key.instanceId);
    if (active) return active;
    if (action.sleepFirst) await repos.instances.setDesired(key, 'sleeping', instance.version, at);
    // A running or warm instance comes back as it was: warm stays warm on the target.
    const restore =
      action.restore === 'running' || action.restore === 'warm' ? action.restore : null;
    const wake = restore !== null;
    const move = this.record(key, nodeId, action.target, restore, nodeId, actorOf(principal));
    await repos.instanceMoves.insert(move);
    await audit(repos, this.deps, principal, {
      tenantId: key.tenantId,
      action: 'instance.move',
      target: keyText(key),
      detail: { move: move.id, from: nodeId, to: action.target, wake, restore, drain: nodeId },
    });
    return move;
  }

  /**
   * Moves the raises that have waited for room on their node at least `boundMs` to a node
   * with room, woken there to the place they hold (core/raise-relocation.ts), under the
   * scheduler's lock so what it reads of the nodes stands. Answers the moves it asked for.
   */
  async relocateWaiting(boundMs: number): Promise<InstanceMove[]> {
    if (!(await this.deps.store.instances.anyPressureHeld())) return [];
    const moves = await this.deps.store.transaction(async (repos) => {
      await repos.locks.acquire(SCHEDULER_LOCK);
      const held = await repos.instances.listPressureHeld();
      const view = await loadPlacementView(repos, 'none');
      const waiting: WaitingRaise[] = [];
      for (const i of held) {
        const active = await repos.instanceMoves.activeFor(i.tenantId, i.poolId, i.id);
        waiting.push({
          instance: i,
          pool: view.pools.get(`${i.tenantId}/${i.poolId}`),
          moving: active !== undefined,
        });
      }
      const now = this.deps.clock.now();
      const plan = planRelocations(view.placementNodes, waiting, now.getTime(), boundMs);
      const moves: InstanceMove[] = [];
      for (const r of plan) {
        const [tenantId = '', poolId = '', instanceId = ''] = r.key.split('/');
        const key = { tenantId, poolId, instanceId };
        const move = this.record(key, r.from, r.to, r.restore, null, 'scheduler');
        await repos.instanceMoves.insert(move);
        await repos.audit.append({
          tenantId,
          at: now.toISOString(),
          actor: 'scheduler',
          action: 'instance.move',
          target: r.key,
          detail: {
            move: move.id,
            from: r.from,
            to: r.to,
            wake: true,
            restore: r.restore,
            reason: `waited ${r.waitedSecs} s for room on its node`,
          },
        });
        moves.push(move);
      }
      if (moves.length > 0) {
        await markDocuments(repos, { nodes: moves.flatMap((m) => [m.sourceNode, m.targetNode]) });
      }
      return moves;
    });
    if (moves.length > 0) {
      this.after.wake({ nodes: moves.flatMap((m) => [m.sourceNode, m.targetNode]) });
    }
    return moves;
  }
}

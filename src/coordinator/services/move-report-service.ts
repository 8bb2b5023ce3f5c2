import { ConflictError, NotFoundError } from '../../core/errors.ts';
import {
  advanceMove,
  desiredAfterMove,
  type InstanceMove,
  type MoveEvent,
} from '../../core/instance-move.ts';
import type { MoveReport } from '../../contract/moves.ts';
import type { Repos } from '../../ports/store.ts';
import type { Principal } from '../principal.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments } from './mark-documents.ts';
import { audit, type ServiceDeps } from './context.ts';
import { holdRaisesWithoutRoom, raiseTransaction } from './raise-room.ts';
import type { DesiredStatus, Instance } from '../../core/model.ts';

type Side = 'source' | 'target';

/** Which side of a move may report what. */
const reportedBy: Record<MoveReport['kind'], Side | 'either'> = {
  start: 'source',
  exported: 'source',
  received: 'target',
  'part-refused': 'target',
  imported: 'target',
  crashed: 'either',
  failed: 'either',
};

function sideOf(move: InstanceMove, nodeId: string): Side | undefined {
  if (move.sourceNode === nodeId) return 'source';
  if (move.targetNode === nodeId) return 'target';
  return undefined;
}

function eventOf(report: MoveReport, side: Side): MoveEvent {
  switch (report.kind) {
    case 'exported':
      return { kind: 'exported', parts: report.manifest.parts };
    case 'crashed':
      return { kind: 'crashed', side, reason: report.reason };
    default:
      return report;
  }
}

/**
 * What the nodes of a move report as they carry it out, applied through the state machine
 * (core/instance-move.ts). Only the move's source and target are answered about it (any other
 * node is told it does not exist), each only for its own steps. The write that marks a move
 * done also moves the instance to the target, so exactly one node owns it at every step.
 */
export class MoveReportService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly after: Pick<AfterWrite, 'place' | 'wake'>,
    private readonly onFinished: (move: InstanceMove) => Promise<void> = async () => {},
  ) {}

  /** The moves under way the node takes part in. */
  forNode(nodeId: string): Promise<InstanceMove[]> {
    return this.deps.store.instanceMoves.activeOn(nodeId);
  }

  /** The move as the node may see it: one it is the source or the target of. */
  async of(nodeId: string, moveId: string): Promise<{ move: InstanceMove; side: Side }> {
    const move = await this.deps.store.instanceMoves.get(moveId);
    const side = move && sideOf(move, nodeId);
    if (!move || !side)
      throw new NotFoundError('move', moveId, `node '${nodeId}' takes no part in it`);
    return { move, side };
  }

  async report(
    principal: Principal,
    nodeId: string,
    moveId: string,
    report: MoveReport,
  ): Promise<InstanceMove> {
    const next = await raiseTransaction(this.deps.store, async (repos) => {
      const move = await repos.instanceMoves.get(moveId);
      const side = move && sideOf(move, nodeId);
      if (!move || !side) {
        throw new NotFoundError('move', moveId, `node '${nodeId}' takes no part in it`);
      }
      const allowed = reportedBy[report.kind];
      if (allowed !== 'either' && allowed !== side) {
        throw new ConflictError(
          `the ${side} of move ${moveId} cannot report '${report.kind}': only its ${allowed} does`,
        );
      }
      if (report.kind === 'start') await this.checkAsleep(repos, move);
      const awake = report.kind === 'start' ? undefined : await this.wokenMeanwhile(repos, move);
      const event: MoveEvent = awake ? { kind: 'failed', reason: awake } : eventOf(report, side);
      const advanced = advanceMove(move, event);
      if (advanced === move) return move;
      const stamped = { ...move, ...advanced, updatedAt: this.deps.clock.now().toISOString() };
      const saved = await repos.instanceMoves.update(stamped, move.version);
      if (saved.step === 'done') await this.handOver(repos, principal, saved);
      if (saved.step === 'failed') await this.auditFailed(repos, principal, saved);
      if (saved.step === 'done' || saved.step === 'failed') {
        await markDocuments(repos, {
          nodes: [saved.sourceNode, saved.targetNode],
          tenants: [saved.tenantId],
        });
      }
      return saved;
    });
    if (next.step === 'done' || next.step === 'failed') {
      await this.onFinished(next);
      await this.after.place({
        nodes: [next.sourceNode, next.targetNode],
        tenants: [next.tenantId],
      });
    }
    return next;
  }

  /** The source starts only once the instance is asleep (or stopped) and meant to stay so. */
  private async checkAsleep(repos: Repos, move: InstanceMove): Promise<void> {
    const instance = await repos.instances.get(move);
    const status = instance?.status;
    if (!instance || (status !== 'sleeping' && status !== 'stopped')) {
      throw new ConflictError(
        `move ${move.id} cannot start: the instance is ${status ?? 'gone'}; it starts once asleep`,
      );
    }
  }

  /**
   * Why the move must not go on: the instance left its sleep on the source after the export
   * (a wake on connect), so the bundle is stale and the source's copy is the one that counts.
   */
  private async wokenMeanwhile(repos: Repos, move: InstanceMove): Promise<string | undefined> {
    if (move.step === 'requested') return undefined;
    const status = (await repos.instances.get(move))?.status;
    if (status === 'sleeping' || status === 'stopped') return undefined;
    return `the instance is ${status ?? 'gone'} on its source since the export: the bundle is stale, the source keeps it`;
  }

  /**
   * The target holds it: the instance is the target's now, woken there when the move says so,
   * but only with room on the target next to what it holds (services/raise-room.ts, under the
   * scheduler's lock like every raise); without room it lands asleep (or stopped) on the
   * target, waiting for room there (`instance.raise-waiting`), and the scheduler raises it.
   */
  private async handOver(repos: Repos, principal: Principal, move: InstanceMove): Promise<void> {
    const instance = await repos.instances.get(move);
    if (!instance) return;
    const at = this.deps.clock.now().toISOString();
    const desiredStatus = desiredAfterMove(move, instance.desiredStatus);
    // Woken there, it no longer waits for room on its source (a relocated raise).
    const written = await repos.instances.update(
      move,
      {
        nodeId: move.targetNode,
        desiredStatus,
        ...(move.wake ? { idleSlot: null, pressureSleptAt: null } : {}),
      },
      instance.version,
      at,
    );
    // It held nothing on the target before: whatever it runs as there is a raise there (a
    // wake decided during the move too, which counted on its source until now).
    await holdRaisesWithoutRoom(
      repos,
      this.deps,
      // Held there, its wait for room starts over on the target.
      [
        {
          before: { desiredStatus: asleepAs(instance), pressureSleptAt: null },
          after: written,
        },
      ],
      `move:${move.id}`,
    );
    await audit(repos, this.deps, principal, {
      tenantId: move.tenantId,
      action: 'instance.moved',
      target: `${move.tenantId}/${move.poolId}/${move.instanceId}`,
      detail: {
        move: move.id,
        from: move.sourceNode,
        to: move.targetNode,
        wake: move.wake,
        restore: move.restore,
      },
    });
  }

  private async auditFailed(repos: Repos, principal: Principal, move: InstanceMove): Promise<void> {
    await audit(repos, this.deps, principal, {
      tenantId: move.tenantId,
      action: 'instance.move-failed',
      target: `${move.tenantId}/${move.poolId}/${move.instanceId}`,
      detail: { move: move.id, from: move.sourceNode, to: move.targetNode, reason: move.reason },
    });
  }
}

/** What a moved instance is on arrival, before any raise: stopped if it was, else asleep. */
function asleepAs(instance: Pick<Instance, 'status' | 'desiredStatus'>): DesiredStatus {
  return instance.desiredStatus === 'stopped' || instance.status === 'stopped'
    ? 'stopped'
    : 'sleeping';
}

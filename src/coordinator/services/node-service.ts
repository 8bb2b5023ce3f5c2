import { ConflictError, NotFoundError } from '../../core/errors.ts';
import type { FleetNode } from '../../core/model.ts';
import { decideCordon, type CordonWish } from '../../core/node-cordon.ts';
import type { RegisterNodeRequest } from '../../contract/requests.ts';
import type { DrainAction } from '../../core/drain-plan.ts';
import { drainPlanOf } from './drain-plan-service.ts';
import type { Principal } from '../principal.ts';
import type { AfterWrite } from './after-write.ts';
import { markDocuments } from './mark-documents.ts';
import { audit, type ServiceDeps } from './context.ts';
import { capacityShrank } from './scheduler-service.ts';

export class NodeService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly after: Pick<AfterWrite, 'place'>,
  ) {}

  list(): Promise<FleetNode[]> {
    return this.deps.store.nodes.list();
  }

  /** What a drain of the node would do, changing nothing (core/drain-plan.ts). */
  drainPlan(id: string): Promise<DrainAction[]> {
    return drainPlanOf(this.deps, id);
  }

  async get(id: string): Promise<FleetNode> {
    const node = await this.deps.store.nodes.get(id);
    if (!node) throw new NotFoundError('node', id, "see 'mvm node list'");
    return node;
  }

  /** Capacity came or changed: placement follows; a new underlay address changes peers. */
  async register(
    principal: Principal,
    id: string,
    request: RegisterNodeRequest,
  ): Promise<FleetNode> {
    const { node, moved, shrank } = await this.registerInTransaction(principal, id, request);
    await this.after.place({ fleet: moved }, { roomShrank: shrank });
    return node;
  }

  private async registerInTransaction(
    principal: Principal,
    id: string,
    request: RegisterNodeRequest,
  ): Promise<{ node: FleetNode; moved: boolean; shrank: boolean }> {
    return this.deps.store.transaction(async (repos) => {
      const existing = await repos.nodes.get(id);
      const now = this.deps.clock.now().toISOString();
      const node = await repos.nodes.upsert({
        id,
        hostname: request.hostname,
        arch: request.arch,
        capacity: request.capacity,
        labels: request.labels,
        status: existing?.status ?? 'ready',
        lastHeartbeat: now,
        underlayIp: request.underlayIp ?? existing?.underlayIp ?? null,
        usage: existing?.usage ?? null,
        createdAt: existing?.createdAt ?? now,
        version: existing?.version ?? 1,
      });
      if (!existing) {
        await audit(repos, this.deps, principal, {
          tenantId: null,
          action: 'node.register',
          target: id,
          detail: { capacity: request.capacity },
        });
      }
      const moved = existing !== undefined && existing.underlayIp !== node.underlayIp;
      await markDocuments(repos, { fleet: moved });
      // Registered smaller than before: what it holds beyond that is lowered by the pass.
      const shrank = existing !== undefined && capacityShrank(existing.capacity, node.capacity);
      return { node, moved, shrank };
    });
  }

  /**
   * Cordons a node (it keeps what it runs, nothing new is placed there) or makes it take
   * placements again; idempotent, audited when it changes something. Uncordoning places
   * whatever was waiting.
   */
  async setCordon(principal: Principal, id: string, wish: CordonWish): Promise<FleetNode> {
    const { node, changed } = await this.deps.store.transaction(async (repos) => {
      const existing = await repos.nodes.get(id);
      if (!existing) throw new NotFoundError('node', id, "see 'mvm node list'");
      const certificates = await repos.nodeCertificates.list(id);
      const decision = decideCordon(wish, {
        status: existing.status,
        certificates: certificates.length,
        liveCertificates: certificates.filter((c) => c.revokedAt === null).length,
      });
      if (decision.kind === 'refuse') {
        throw new ConflictError(`cannot ${wish} node '${id}': ${decision.reason}`, {
          status: existing.status,
        });
      }
      if (decision.kind === 'unchanged') return { node: existing, changed: false };
      const updated = await repos.nodes.update(id, { status: decision.to }, existing.version);
      await audit(repos, this.deps, principal, {
        tenantId: null,
        action: `node.${wish}`,
        target: id,
        detail: { from: existing.status, to: decision.to },
      });
      await markDocuments(repos, { fleet: wish === 'uncordon' });
      return { node: updated, changed: true };
    });
    if (changed && wish === 'uncordon') await this.after.place({ fleet: true });
    return node;
  }
}

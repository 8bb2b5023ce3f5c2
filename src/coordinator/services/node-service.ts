import { NotFoundError } from '../../core/errors.ts';
import type { FleetNode } from '../../core/model.ts';
import type { RegisterNodeRequest } from '../../contract/requests.ts';
import type { Principal } from '../principal.ts';
import type { AfterWrite } from './after-write.ts';
import { audit, type ServiceDeps } from './context.ts';

export class NodeService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly after: Pick<AfterWrite, 'place'>,
  ) {}

  list(): Promise<FleetNode[]> {
    return this.deps.store.nodes.list();
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
    const { node, moved } = await this.registerInTransaction(principal, id, request);
    await this.after.place({ fleet: moved });
    return node;
  }

  private async registerInTransaction(
    principal: Principal,
    id: string,
    request: RegisterNodeRequest,
  ): Promise<{ node: FleetNode; moved: boolean }> {
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
      return { node, moved: existing !== undefined && existing.underlayIp !== node.underlayIp };
    });
  }
}

import { NotFoundError } from '../../core/errors.ts';
import {
  chooseWorker,
  DEFAULT_WORKER_KEY,
  type WorkerSelection,
} from '../../core/worker-exec/choose-worker.ts';
import type { WorkerExecQuery } from '../../contract/worker-exec.ts';
import type { InstanceKey } from '../../ports/store.ts';
import type { Principal } from '../principal.ts';
import type { ServiceDeps } from './context.ts';
import type { SocketSession } from './exec-service.ts';

const pathOf = (key: InstanceKey) => `${key.tenantId}/${key.poolId}/${key.instanceId}`;

/**
 * Worker exec (docs/openclaw.md): a node's agent asks, for a gateway instance it runs, that a
 * command run in a worker of that gateway's tenant. The tenant is the gateway's, never the
 * request's; a gateway this node does not run, or a target that is no worker of the tenant,
 * answers the 404 of a missing one. The session is then an ordinary exec session into the
 * worker (woken first if warm or sleeping), audited with the gateway it came from.
 */
export class WorkerExecService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly exec: {
      relayedSession(p: Principal, key: InstanceKey, via: Record<string, unknown>): SocketSession;
    },
  ) {}

  async session(
    principal: Principal,
    nodeId: string,
    gateway: InstanceKey,
    query: WorkerExecQuery,
  ): Promise<SocketSession> {
    const { store } = this.deps;
    const [instance, pool] = await Promise.all([
      store.instances.get(gateway),
      store.pools.get(gateway.tenantId, gateway.poolId),
    ]);
    if (!instance || !pool || instance.nodeId !== nodeId || pool.role !== 'gateway') {
      throw new NotFoundError(
        'gateway instance',
        pathOf(gateway),
        `node '${nodeId}' runs no gateway instance by that name`,
      );
    }
    const selection = selectionOf(query);
    const worker = await this.choose(gateway.tenantId, selection);
    if (!worker) {
      throw new NotFoundError(
        'worker',
        selection.kind === 'target' ? `${selection.poolId}/${selection.instanceId}` : selection.key,
        selection.kind === 'target'
          ? `no live worker instance by that name in this gateway's tenant`
          : `tenant '${gateway.tenantId}' has no live worker instance: scale its worker pool up`,
      );
    }
    const key = { tenantId: gateway.tenantId, ...worker };
    return this.exec.relayedSession(principal, key, {
      gateway: pathOf(gateway),
      ...(selection.kind === 'key' ? { workerKey: selection.key } : {}),
    });
  }

  private async choose(tenantId: string, selection: WorkerSelection) {
    const pools = (await this.deps.store.pools.list({ tenantId })).filter(
      (p) => p.role === 'worker',
    );
    const candidates = (
      await Promise.all(
        pools.map((p) => this.deps.store.instances.list({ tenantId, poolId: p.id })),
      )
    ).flat();
    return chooseWorker(
      candidates.map((i) => ({
        poolId: i.poolId,
        instanceId: i.id,
        desiredStatus: i.desiredStatus,
      })),
      selection,
    );
  }
}

function selectionOf(query: WorkerExecQuery): WorkerSelection {
  if (query.target !== undefined) {
    const [poolId = '', instanceId = ''] = query.target.split('/');
    return { kind: 'target', poolId, instanceId };
  }
  return { kind: 'key', key: query.worker ?? DEFAULT_WORKER_KEY };
}

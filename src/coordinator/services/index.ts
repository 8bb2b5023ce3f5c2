import type { AuditEvent } from '../../core/model.ts';
import type { ChangeNotifier } from '../desired/change-notifier.ts';
import type { SigningKey } from '../desired/signing-key.ts';
import type { ServiceDeps } from './context.ts';
import { DesiredService } from './desired-service.ts';
import { InstanceService } from './instance-service.ts';
import { JoinService, type JoinDeps } from './join-service.ts';
import { NodeService } from './node-service.ts';
import { PoolService } from './pool-service.ts';
import { SchedulerService } from './scheduler-service.ts';
import { TenantService } from './tenant-service.ts';
import { TokenService } from './token-service.ts';

export interface Services {
  tenants: TenantService;
  pools: PoolService;
  instances: InstanceService;
  nodes: NodeService;
  tokens: TokenService;
  scheduler: SchedulerService;
  desired: DesiredService;
  join: JoinService;
  events: { list(filter: { tenantId?: string; limit: number }): Promise<AuditEvent[]> };
}

/** What the desired-state service adds: its signing key and the process's change notifier. */
export interface DesiredDeps {
  signingKey: SigningKey;
  notifier: ChangeNotifier;
  desiredPollMs?: number;
}

export function createServices(deps: ServiceDeps & DesiredDeps & JoinDeps): Services {
  return {
    tenants: new TenantService(deps),
    pools: new PoolService(deps),
    instances: new InstanceService(deps),
    nodes: new NodeService(deps),
    tokens: new TokenService(deps),
    scheduler: new SchedulerService(deps),
    desired: new DesiredService({
      store: deps.store,
      clock: deps.clock,
      signingKey: deps.signingKey,
      notifier: deps.notifier,
      ...(deps.desiredPollMs !== undefined ? { pollMs: deps.desiredPollMs } : {}),
    }),
    join: new JoinService(deps),
    events: { list: (filter) => deps.store.audit.list(filter) },
  };
}

export type { ServiceDeps } from './context.ts';

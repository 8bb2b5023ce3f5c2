import type { AuditEvent } from '../../core/model.ts';
import type { ServiceDeps } from './context.ts';
import { InstanceService } from './instance-service.ts';
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
  events: { list(filter: { tenantId?: string; limit: number }): Promise<AuditEvent[]> };
}

export function createServices(deps: ServiceDeps): Services {
  return {
    tenants: new TenantService(deps),
    pools: new PoolService(deps),
    instances: new InstanceService(deps),
    nodes: new NodeService(deps),
    tokens: new TokenService(deps),
    scheduler: new SchedulerService(deps),
    events: { list: (filter) => deps.store.audit.list(filter) },
  };
}

export type { ServiceDeps } from './context.ts';

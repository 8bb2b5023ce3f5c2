import type { AuditEvent } from '../../core/model.ts';
import type { ChangeNotifier } from '../desired/change-notifier.ts';
import type { SigningKey } from '../desired/signing-key.ts';
import type { ServiceDeps } from './context.ts';
import { DesiredService } from './desired-service.ts';
import { InstanceService } from './instance-service.ts';
import { JoinService, type JoinDeps } from './join-service.ts';
import { NodeHealthService, type NodeHealthDeps } from './node-health-service.ts';
import { NodeService } from './node-service.ts';
import { PoolService } from './pool-service.ts';
import { RecheckTimer } from './recheck-timer.ts';
import { SchedulerService } from './scheduler-service.ts';
import { SleepRecheckService } from './sleep-rechecks.ts';
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
  health: NodeHealthService;
  /** Re-checks pools when demotions put off by minimum times fall due; close() stops it. */
  rechecks: RecheckTimer;
  join: JoinService;
  events: { list(filter: { tenantId?: string; limit: number }): Promise<AuditEvent[]> };
}

/** What the desired-state service adds: its signing key and the process's change notifier. */
export interface DesiredDeps {
  signingKey: SigningKey;
  notifier: ChangeNotifier;
  desiredPollMs?: number;
}

/** Where the services report failures of work nobody asked for (timers). */
export interface BackgroundLogger {
  error(obj: object, msg?: string): void;
}

export function createServices(
  deps: ServiceDeps & DesiredDeps & JoinDeps & NodeHealthDeps & { logger?: BackgroundLogger },
): Services {
  const scheduler = new SchedulerService(deps);
  const desired = new DesiredService({
    store: deps.store,
    clock: deps.clock,
    signingKey: deps.signingKey,
    notifier: deps.notifier,
    ...(deps.desiredPollMs !== undefined ? { pollMs: deps.desiredPollMs } : {}),
  });
  const rechecks = recheckTimer(deps, scheduler, desired);
  return {
    tenants: new TenantService(deps),
    pools: new PoolService(deps, rechecks),
    instances: new InstanceService(deps),
    nodes: new NodeService(deps),
    tokens: new TokenService(deps),
    scheduler,
    desired,
    health: new NodeHealthService(deps, {
      schedule: () => scheduler.schedule(),
      changed: () => desired.changed(),
    }),
    rechecks,
    join: new JoinService(deps),
    events: { list: (filter) => deps.store.audit.list(filter) },
  };
}

function recheckTimer(
  deps: ServiceDeps & { logger?: BackgroundLogger },
  scheduler: SchedulerService,
  desired: DesiredService,
): RecheckTimer {
  return new RecheckTimer({
    clock: deps.clock,
    rechecks: new SleepRecheckService(deps),
    // Demotions free capacity, so placement runs again before the watchers are woken.
    onChange: async () => {
      try {
        await scheduler.schedule();
      } finally {
        desired.changed();
      }
    },
    onError: (err, ref) => deps.logger?.error({ err, ...ref }, 'sleep-policy re-check failed'),
  });
}

export type { ServiceDeps } from './context.ts';

import type { AuditEvent } from '../../core/model.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Repos, Store } from '../../ports/store.ts';
import type { Principal } from '../principal.ts';
import { actorOf } from '../principal.ts';

/** What every service needs: the store, time, randomness and the cluster's settings. */
export interface ServiceDeps {
  store: Store;
  clock: Clock;
  /** Random lowercase a-z0-9 suffix for new instance ids (injected for deterministic tests). */
  randomSuffix: () => string;
  clusterCidr: string;
}

/** An audit event as `principal` makes it now (appended by `audit`, or with a write's marks). */
export function auditEvent(
  deps: Pick<ServiceDeps, 'clock'>,
  principal: Principal,
  event: AuditNote,
): Omit<AuditEvent, 'id'> {
  return {
    tenantId: event.tenantId,
    at: deps.clock.now().toISOString(),
    actor: actorOf(principal),
    action: event.action,
    target: event.target,
    detail: event.detail ?? {},
  };
}

/** What a service says of its change in the audit log. */
export interface AuditNote {
  tenantId: string | null;
  action: string;
  target: string;
  detail?: Record<string, unknown>;
}

export async function audit(
  repos: Repos,
  deps: ServiceDeps,
  principal: Principal,
  event: AuditNote,
): Promise<void> {
  await repos.audit.append(auditEvent(deps, principal, event));
}

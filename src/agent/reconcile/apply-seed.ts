import type { DesiredStatus } from '../../core/model.ts';
import { seedToDesired } from '../../core/desired-doc.ts';
import type { SeedDocument } from '../../contract/desired.ts';
import type { Logger } from '../../ports/logger.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';
import { reconcileDocument, type ReconcileStep } from './reconcile-document.ts';

export interface ApplySeedOptions {
  seed: SeedDocument;
  runtime: InstanceRuntime;
  nodeId: string;
  now: Date;
  randomSuffix: () => string;
  logger?: Logger;
  onStep?: (step: ReconcileStep) => void;
}

/**
 * Coordinator-less operation: the seed (tenants → pools → counts) is materialized against the
 * VMs this agent already has, by the same function the coordinator's pool scale uses, and the
 * result goes through the same reconciler as a coordinator's document. The pools' minimum
 * times are measured from each record's last write, which follows its last status change
 * closely (and never precedes it, so a minimum is never cut short); a demotion they put off
 * happens on the first apply after it falls due.
 */
export async function applySeed(options: ApplySeedOptions): Promise<ReconcileStep[]> {
  const existing = (await options.runtime.list()).map((vm) => ({
    tenantId: vm.tenantId,
    poolId: vm.poolId,
    id: vm.instanceId,
    ip: vm.spec.ip,
    mac: vm.spec.mac,
    status: vm.status,
    statusSince: vm.updatedAt,
    desiredStatus: (vm.status === 'created' || vm.status === 'ready' || vm.status === 'failed'
      ? 'stopped'
      : vm.status) as DesiredStatus,
  }));
  const { document } = seedToDesired(options.seed, existing, {
    nodeId: options.nodeId,
    generation: 0,
    issuedAt: options.now.toISOString(),
    randomSuffix: options.randomSuffix,
    now: options.now.getTime(),
  });
  return reconcileDocument({
    document,
    runtime: options.runtime,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.onStep ? { onStep: options.onStep } : {}),
  });
}

import { isMvmError } from '../../core/errors.ts';
import type { DesiredStatus, InstanceStatus, Role } from '../../core/model.ts';
import { rolePriority } from '../../core/roles.ts';
import type { LocalAction } from '../../contract/agent-api.ts';
import type { DesiredPool, DesiredTenant, NodeDesired } from '../../contract/desired.ts';
import type { DriverLogger } from '../../drivers/process/logger.ts';
import { peersByNetId } from '../network/desired-network.ts';
import type { InstanceRef, InstanceRuntime } from '../runtime/instance-runtime.ts';

const actionFor: Record<DesiredStatus, LocalAction> = {
  running: 'start',
  warm: 'warm',
  sleeping: 'sleep',
  stopped: 'stop',
  destroyed: 'destroy',
};

/** Where observed statuses go (the coordinator, when there is one). */
export interface StatusReporter {
  report(ref: InstanceRef, status: InstanceStatus, failureReason?: string): Promise<void>;
}

export interface ReconcileStep {
  instance: string;
  desired: DesiredStatus;
  status: InstanceStatus;
  error?: string;
}

/** The node's tenant network as a pass sees it (AgentNetwork). */
export interface DocumentNetwork {
  /** VXLAN peers by tenant net id, used by every apply from now on. */
  setPeers(peers: ReadonlyMap<number, readonly string[]>): void;
  sync(): Promise<unknown>;
}

export interface ReconcileOptions {
  document: NodeDesired;
  runtime: InstanceRuntime;
  /** When given, the pass hands it the document's peers and applies it once at the end. */
  network?: DocumentNetwork;
  reporter?: StatusReporter;
  logger?: DriverLogger;
  onStep?: (step: ReconcileStep) => void;
}

interface Work {
  ref: InstanceRef;
  role: Role;
  desired: DesiredStatus;
  tenant?: DesiredTenant;
  pool?: DesiredPool;
  ip?: string;
  mac?: string;
}

const label = (ref: InstanceRef) => `${ref.tenantId}/${ref.poolId}/${ref.instanceId}`;
const isUp = (d: DesiredStatus) => d === 'running' || d === 'warm';

/**
 * Up-going work first in role order (gateways first), then down-going work in reverse role
 * order (gateways last to sleep), then removals of what the document no longer names.
 */
function order(work: Work[]): Work[] {
  const up = work.filter((w) => isUp(w.desired));
  const down = work.filter((w) => !isUp(w.desired) && w.pool);
  const gone = work.filter((w) => !w.pool);
  up.sort((a, b) => rolePriority(a.role) - rolePriority(b.role));
  down.sort((a, b) => rolePriority(b.role) - rolePriority(a.role));
  return [...up, ...down, ...gone];
}

async function plan(options: ReconcileOptions): Promise<Work[]> {
  const work: Work[] = [];
  const named = new Set<string>();
  for (const tenant of options.document.tenants) {
    for (const pool of tenant.pools) {
      for (const instance of pool.instances) {
        const ref = { tenantId: tenant.id, poolId: pool.id, instanceId: instance.id };
        named.add(label(ref));
        work.push({
          ref,
          role: pool.role,
          desired: instance.desiredStatus,
          tenant,
          pool,
          ip: instance.ip,
          mac: instance.mac,
        });
      }
    }
  }
  // A VM this node runs that the document no longer names was destroyed upstream (a forced
  // pool or tenant destroy deletes the records outright): tear it down.
  for (const vm of await options.runtime.list()) {
    const ref = { tenantId: vm.tenantId, poolId: vm.poolId, instanceId: vm.instanceId };
    if (!named.has(label(ref))) work.push({ ref, role: vm.spec.role, desired: 'destroyed' });
  }
  return order(work);
}

async function converge(options: ReconcileOptions, w: Work): Promise<InstanceStatus> {
  const { runtime } = options;
  if (w.pool && w.tenant && w.ip && w.mac && w.desired !== 'destroyed') {
    await runtime.put(w.ref, {
      spec: {
        role: w.pool.role,
        vcpus: w.pool.vcpus,
        memMib: w.pool.memMib,
        dataDiskMib: w.pool.dataDiskMib,
        ip: w.ip,
        gateway: w.tenant.gateway,
        mac: w.mac,
        revision: w.pool.revision ?? 'dev',
        tenant: { netId: w.tenant.netId, subnet: w.tenant.subnet, gateway: w.tenant.gateway },
      },
    });
  }
  const known = await runtime.get(w.ref).catch(() => undefined);
  if (known === undefined) return 'destroyed';
  if (known.status === w.desired) return known.status;
  return (await runtime.act(w.ref, actionFor[w.desired])).status;
}

/**
 * One pass of the reconciler: brings every instance the document names to its desired status
 * and reports what it observes. The same pass serves the coordinator's signed documents and
 * seed files (`mvm agent reconcile --desired`). A failure of one instance is reported and does
 * not stop the others.
 */
export async function reconcileDocument(options: ReconcileOptions): Promise<ReconcileStep[]> {
  const steps: ReconcileStep[] = [];
  // Before any boot, so a tenant's first instance comes up with its VXLAN already peered.
  options.network?.setPeers(peersByNetId(options.document));
  for (const w of await plan(options)) {
    let status: InstanceStatus;
    let error: string | undefined;
    try {
      status = await converge(options, w);
    } catch (caught) {
      error = isMvmError(caught) || caught instanceof Error ? caught.message : String(caught);
      status = 'failed';
      options.logger?.error({ instance: label(w.ref), err: caught }, 'reconcile failed');
    }
    if (w.pool) await options.reporter?.report(w.ref, status, error);
    const step = {
      instance: label(w.ref),
      desired: w.desired,
      status,
      ...(error ? { error } : {}),
    };
    steps.push(step);
    options.onStep?.(step);
  }
  await applyNetwork(options);
  return steps;
}

/**
 * Peers may change while no instance here does (another node gained or lost the tenant), so
 * every pass applies the network once; a failure is logged and retried by the next pass.
 */
async function applyNetwork(options: ReconcileOptions): Promise<void> {
  try {
    await options.network?.sync();
  } catch (error) {
    options.logger?.error({ err: error }, 'tenant network not applied; the next pass retries');
  }
}

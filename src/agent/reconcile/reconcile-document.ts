import type { DesiredStatus, InstanceStatus } from '../../core/model.ts';
import { fencePlan, type FencedPlan, type LeaseState } from '../../core/node-lease.ts';
import { plan, type ObservedInstance, type ReconcilePlan } from '../../core/reconcile-plan.ts';
import type { NodeDesired } from '../../contract/desired.ts';
import type { Logger } from '../../ports/logger.ts';
import { peersByNetId } from '../network/desired-network.ts';
import type { InstanceRef, InstanceRuntime } from '../runtime/instance-runtime.ts';
import {
  desiredOf,
  documentInstances,
  instanceLabel,
  observe,
  refOf,
} from './document-instances.ts';
import type { NamedInstance } from './document-instances.ts';
import { runPlan } from './run-plan.ts';

/** Where observed statuses go (the coordinator, when there is one). */
export interface StatusReporter {
  /** `revision`: the one a run that left the instance running booted it with. */
  report(
    ref: InstanceRef,
    status: InstanceStatus,
    failureReason?: string,
    revision?: string,
  ): Promise<void>;
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
  logger?: Logger;
  onStep?: (step: ReconcileStep) => void;
  /** The node's lease (core/node-lease.ts); absent: held (seed files, one-shot passes). */
  lease?: LeaseState;
  /**
   * Instances a move is bringing here that the document does not name yet (MoveWorker): the
   * pass leaves their records alone instead of destroying them.
   */
  incoming?: ReadonlySet<string>;
}

/**
 * One pass of the reconciler: the core planner (core/reconcile-plan.ts) compares the document
 * with this host's records and names the steps; the runtime executes them, gateways first up
 * and last down, and the pass reports what it observes. The same pass serves the coordinator's
 * signed documents and seed files (`mvm agent reconcile --desired`). A failure of one instance
 * is reported and does not stop the others.
 */
export async function reconcileDocument(options: ReconcileOptions): Promise<ReconcileStep[]> {
  // Before any boot, so a tenant's first instance comes up with its VXLAN already peered.
  options.network?.setPeers(peersByNetId(options.document));
  const named = documentInstances(options.document);
  for (const n of named.values()) n.desired = options.runtime.desiredNow(n.ref, n.desired);
  const incoming = options.incoming ?? new Set<string>();
  const records = (await options.runtime.list()).filter(
    (vm) => !incoming.has(instanceLabel(refOf(vm))) || named.has(instanceLabel(refOf(vm))),
  );
  const observed = observe(records, named);
  const { plan: planned, held } = fenced(
    options,
    named,
    observed,
    plan(desiredOf(named), observed),
  );
  const steps = await runPlan(
    {
      runtime: options.runtime,
      named,
      records,
      unreported: new Set(held),
      ...(options.reporter ? { reporter: options.reporter } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.onStep ? { onStep: options.onStep } : {}),
    },
    planned,
  );
  await applyNetwork(options);
  return steps;
}

/** The plan the lease allows; what it holds back or pauses is said once per pass. */
function fenced(
  options: ReconcileOptions,
  named: ReadonlyMap<string, NamedInstance>,
  observed: readonly ObservedInstance[],
  planned: ReconcilePlan,
): FencedPlan {
  const lease = options.lease ?? 'held';
  const replaceable = new Set([...named].filter(([, n]) => n.replaceable).map(([label]) => label));
  const statuses = new Map(observed.map((o) => [o.instance, o.status]));
  const result = fencePlan(planned, statuses, replaceable, lease);
  if (result.paused.length > 0) {
    options.logger?.warn(
      { lease, paused: result.paused },
      'node lease expired (no heartbeat answer): pausing the running re-placeable instances',
    );
  }
  if (result.held.length > 0) {
    options.logger?.warn(
      { lease, held: result.held },
      'node lease not held: re-placeable instances are not brought up until it is renewed',
    );
  }
  return result;
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

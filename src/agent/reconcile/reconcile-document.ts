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
  isSettled,
  observe,
  recordLabel,
} from './document-instances.ts';
import type { NamedInstance } from './document-instances.ts';
import type { VmRecord } from '../state/vm-repo.ts';
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
  /**
   * Nothing acts (or is reported) before it resolves: the agent's mark of a new document, made
   * durable while the pass plans. A rejection ends the pass before any action.
   */
  ready?: Promise<unknown>;
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
  const named = wantedNow(documentInstances(options.document), options.runtime);
  const records = new Map<string, VmRecord>();
  for (const vm of await options.runtime.list()) {
    const label = recordLabel(vm);
    if (options.incoming?.has(label) !== true || named.has(label)) records.set(label, vm);
  }
  const lease = options.lease ?? 'held';
  const { settled, unsettled, others } = split(named, records, lease);
  const observed = observe(others, named);
  const { plan: planned, held } = fenced(
    options,
    lease,
    named,
    observed,
    plan(desiredOf(unsettled), observed),
  );
  await options.ready;
  const steps = await runPlan(
    {
      runtime: options.runtime,
      named,
      records: others,
      settled,
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

/** The document's instances as the runtime wants them now (a recent wake keeps one up). */
function wantedNow(
  named: Map<string, NamedInstance>,
  runtime: InstanceRuntime,
): Map<string, NamedInstance> {
  for (const [label, n] of named) {
    const desired = runtime.desiredNow(n.ref, n.desired);
    // The entries are shared with the next pass (documentInstances): changed on a copy.
    if (desired !== n.desired) named.set(label, { ...n, desired });
  }
  return named;
}

/**
 * With the lease held, an instance whose record is already where the pass wants it has no
 * step (isSettled): it is reported as it is and not planned. The planner gets the others and
 * the records the document does not name, so a toggle's pass plans one instance, not 1,000.
 * Without the lease every instance is planned: the fence pauses running ones.
 */
function split(
  named: ReadonlyMap<string, NamedInstance>,
  records: ReadonlyMap<string, VmRecord>,
  lease: LeaseState,
): {
  settled: Map<string, VmRecord>;
  unsettled: Map<string, NamedInstance>;
  others: VmRecord[];
} {
  if (lease !== 'held')
    return { settled: new Map(), unsettled: new Map(named), others: [...records.values()] };
  const settled = new Map<string, VmRecord>();
  const unsettled = new Map<string, NamedInstance>();
  for (const [label, n] of named) {
    const vm = records.get(label);
    if (vm && isSettled(vm, n)) settled.set(label, vm);
    else unsettled.set(label, n);
  }
  const others: VmRecord[] = [];
  for (const [label, vm] of records) if (!settled.has(label)) others.push(vm);
  return { settled, unsettled, others };
}

/** The plan the lease allows; what it holds back or pauses is said once per pass. */
function fenced(
  options: ReconcileOptions,
  lease: LeaseState,
  named: ReadonlyMap<string, NamedInstance>,
  observed: readonly ObservedInstance[],
  planned: ReconcilePlan,
): FencedPlan {
  if (lease === 'held') return { plan: planned, held: [], paused: [] };
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

import { errorMessage, InternalError } from '../../core/errors.ts';
import { SleepRefusedError } from '../runtime/hook-steps.ts';
import { StalePlanError } from '../runtime/stale-plan.ts';
import { WakeNotArmedError } from '../wake/wake-not-armed.ts';
import { withRequestId } from '../../drivers/request-context.ts';
import type { DesiredStatus, InstanceStatus } from '../../core/model.ts';
import type { PlanStep, ReconcilePlan } from '../../core/reconcile-plan.ts';
import type { PutInstanceBody } from '../../contract/agent-api.ts';
import type { Logger } from '../../ports/logger.ts';
import type { InstanceRef, InstanceRuntime } from '../runtime/instance-runtime.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import { recordLabel, refOf, type NamedInstance } from './document-instances.ts';
import type { ReconcileStep, StatusReporter } from './reconcile-document.ts';

export interface PlanRun {
  runtime: InstanceRuntime;
  /** The document's instances by label; they are reported, records it does not name are not. */
  named: ReadonlyMap<string, NamedInstance>;
  /** The records the plan was made from. */
  records: readonly VmRecord[];
  /**
   * Named instances with nothing to do, by label, with their records (not in `records`, not
   * planned): reported as they are, in document order with the others.
   */
  settled?: ReadonlyMap<string, VmRecord>;
  /** Named instances the pass leaves alone and says nothing about (held back by the lease). */
  unreported?: ReadonlySet<string>;
  reporter?: StatusReporter;
  logger?: Logger;
  onStep?: (step: ReconcileStep) => void;
}

const liveStatuses: ReadonlySet<InstanceStatus> = new Set(['running', 'warm', 'sleeping']);

interface Target {
  ref: InstanceRef;
  desired: DesiredStatus;
  body?: PutInstanceBody;
  forceSleep?: boolean;
  reported: boolean;
  requestId?: string;
}

/**
 * Executes a plan in its order, each instance's run of steps under that instance's lock. An
 * instance is reported once, when its last step is done or one fails; a failure skips its
 * remaining steps and nobody else's.
 */
export async function runPlan(run: PlanRun, plan: ReconcilePlan): Promise<ReconcileStep[]> {
  const targets = targetsOf(run);
  const results: ReconcileStep[] = [];
  const say = async (
    target: Pick<Target, 'ref' | 'desired' | 'reported'>,
    instance: string,
    status: InstanceStatus,
    error?: string,
    revision?: string,
  ) => {
    if (target.reported) await run.reporter?.report(target.ref, status, error, revision);
    const step = { instance, desired: target.desired, status, ...(error ? { error } : {}) };
    results.push(step);
    run.onStep?.(step);
  };
  const finish = (instance: string, status: InstanceStatus, error?: string, revision?: string) =>
    say(targetOf(targets, instance), instance, status, error, revision);
  const last = lastStepOf(plan.steps);
  const stuck = new Map(plan.stuck.map((s) => [s.instance, s.reason]));
  const statusNow = new Map(run.records.map((vm) => [recordLabel(vm), vm.status]));
  const settled = run.settled ?? new Map<string, VmRecord>();
  // Instances with nothing to do are done before anything runs, in document order.
  for (const instance of doneFirst(run, targets)) {
    const vm = settled.get(instance);
    const n = run.named.get(instance);
    if (vm && n) {
      const reported = run.unreported?.has(instance) !== true;
      await say({ ref: n.ref, desired: n.desired, reported }, instance, vm.status);
      continue;
    }
    const reason = stuck.get(instance);
    if (reason !== undefined) await finish(instance, 'failed', reason);
    else if (!last.has(instance)) await finish(instance, statusNow.get(instance) ?? 'destroyed');
  }
  const failed = new Set<string>();
  for (const { instance, steps, end } of runsOf(plan.steps)) {
    if (failed.has(instance)) continue;
    const target = targetOf(targets, instance);
    const { requestId } = target;
    try {
      const force = target.forceSleep === true;
      // The instance's work runs under the id of the request that asked for it: the runtime's
      // lines carry it, and the guest agent client passes it on (request-context.ts).
      run.logger?.info(
        {
          instance,
          ...(requestId !== undefined ? { requestId } : {}),
          steps: steps.map((s) => s.kind),
        },
        'reconciling instance',
      );
      const record = await withRequestId(requestId, () =>
        run.runtime.run(target.ref, steps, target.body, { force }),
      );
      if (end === last.get(instance)) {
        // A live record's spec names the revision its VM (or snapshot) booted (spec-change.ts).
        const live = record && liveStatuses.has(record.status) ? record.spec.revision : undefined;
        await finish(instance, record?.status ?? 'destroyed', undefined, live);
      }
    } catch (caught) {
      failed.add(instance);
      if (caught instanceof SleepRefusedError || caught instanceof WakeNotArmedError) {
        // Not a failure: the instance runs on as it was, and the next pass tries again.
        run.logger?.warn({ instance, why: caught.message }, 'lowering refused; it keeps running');
        await finish(instance, (await statusOf(run, target.ref)) ?? 'running', caught.message);
        continue;
      }
      if (caught instanceof StalePlanError) {
        // Not a failure either: it moved since the plan (a dead VMM is failed by its own
        // check, and then reported as such); say what it is now, the next pass goes on.
        run.logger?.info({ instance, ...caught.details }, 'plan went stale; planning again');
        await finish(instance, (await statusOf(run, target.ref)) ?? 'destroyed');
        continue;
      }
      run.logger?.error({ instance, err: caught }, 'reconcile failed');
      await finish(instance, 'failed', errorMessage(caught));
    }
  }
  return results;
}

/** What an instance is now, after a step that left it as it was; undefined without a record. */
async function statusOf(run: PlanRun, ref: InstanceRef): Promise<InstanceStatus | undefined> {
  return (await run.runtime.get(ref).catch(() => undefined))?.status;
}

/** Named instances in document order (the settled ones too), then the records it does not name. */
function* doneFirst(run: PlanRun, targets: ReadonlyMap<string, Target>): Generator<string> {
  yield* run.named.keys();
  for (const instance of targets.keys()) if (!run.named.has(instance)) yield instance;
}

/** The planned instances in document order, then the records the document no longer names. */
function targetsOf(run: PlanRun): Map<string, Target> {
  const targets = new Map<string, Target>();
  for (const [instance, n] of run.named) {
    if (run.settled?.has(instance) === true) continue;
    targets.set(instance, {
      ref: n.ref,
      desired: n.desired,
      body: n.body,
      forceSleep: n.forceSleep,
      reported: run.unreported?.has(instance) !== true,
      ...(n.requestId !== undefined ? { requestId: n.requestId } : {}),
    });
  }
  for (const vm of run.records) {
    const instance = recordLabel(vm);
    if (!targets.has(instance) && !run.named.has(instance)) {
      targets.set(instance, { ref: refOf(vm), desired: 'destroyed', reported: false });
    }
  }
  return targets;
}

function targetOf(targets: ReadonlyMap<string, Target>, instance: string): Target {
  const target = targets.get(instance);
  if (!target) throw new InternalError(`the plan names '${instance}', which the pass does not`);
  return target;
}

/** Index of each instance's last step. */
function lastStepOf(steps: readonly PlanStep[]): Map<string, number> {
  return new Map(steps.map((step, index) => [step.instance, index]));
}

/** Consecutive steps of one instance, with the index of the run's last step. */
function runsOf(
  steps: readonly PlanStep[],
): { instance: string; steps: PlanStep[]; end: number }[] {
  const runs: { instance: string; steps: PlanStep[]; end: number }[] = [];
  steps.forEach((step, index) => {
    const current = runs.at(-1);
    if (current?.instance === step.instance) {
      current.steps.push(step);
      current.end = index;
    } else {
      runs.push({ instance: step.instance, steps: [step], end: index });
    }
  });
  return runs;
}

import { IllegalTransitionError } from './errors.ts';
import type { DesiredStatus, InstanceStatus, Role } from './model.ts';
import { sortByRole } from './roles.ts';
import { pathTo } from './state-machine.ts';

/**
 * The steps a host takes on its instances. All but two move an instance along one edge of the
 * state machine; `put` records the spec (creating the record when there is none) and `drain`
 * has the running guest flush its filesystems before a snapshot.
 */
export type StepKind =
  'put' | 'prepare' | 'boot' | 'resume' | 'wake' | 'drain' | 'pause' | 'sleep' | 'stop' | 'destroy';

/** No record on the host: never created here, or destroyed (destroy deletes the record). */
export type Presence = InstanceStatus | 'absent';

interface StepBase {
  /** The instance, named as in the plan's input. */
  instance: string;
  /** Where the instance must be for the step to run: a plan is stale once it is elsewhere. */
  from: Presence;
  to: InstanceStatus;
}

export type PlanStep =
  | (StepBase & { kind: 'put' })
  | (StepBase & { kind: Exclude<StepKind, 'put' | 'sleep'> })
  /** `drained`: a `drain` step of this plan flushed the guest while it ran; otherwise it is
   *  warm, and the sleep step itself resumes, drains and pauses it before the snapshot. */
  | (StepBase & { kind: 'sleep'; drained: boolean });

/** What the document asks of one instance. */
export interface DesiredInstance {
  instance: string;
  role: Role;
  status: DesiredStatus;
}

/** One record the host holds. */
export interface ObservedInstance {
  instance: string;
  role: Role;
  status: InstanceStatus;
  /** The record already holds the spec the document gives, so no `put` is needed. */
  specCurrent: boolean;
  /**
   * Its VM (or snapshot) runs a revision other than the one a rollout pinned it to: it is
   * stopped, takes the new spec, and goes back to its desired status from a cold boot.
   */
  restart?: boolean;
}

/** An instance no step sequence takes to its desired status (it is `destroyed` already). */
export interface StuckInstance {
  instance: string;
  status: InstanceStatus;
  desired: DesiredStatus;
  reason: string;
}

export interface ReconcilePlan {
  steps: PlanStep[];
  stuck: StuckInstance[];
}

/** Steps that bring an instance (closer) to serving; the rest take it away. */
const upKinds: ReadonlySet<StepKind> = new Set(['put', 'prepare', 'boot', 'resume', 'wake']);

export function isUpStep(step: PlanStep): boolean {
  return upKinds.has(step.kind);
}

/**
 * The steps that take the host from `observed` to `desired`. Instances the document names are
 * taken to their desired status; records it does not name are destroyed (a forced pool or
 * tenant destroy deletes the instances outright). Steps that bring instances up come first, in
 * role order (gateways first: the network is there before what routes through it); steps that
 * take them down follow in reverse role order (gateways last: workers stop sending first). An
 * instance's own steps keep their order: every path goes up before it goes down, except a
 * restart (stop, put, up again), which runs whole with the steps that bring instances up.
 */
export function plan(
  desired: readonly DesiredInstance[],
  observed: readonly ObservedInstance[],
): ReconcilePlan {
  const paths: { role: Role; steps: PlanStep[]; restart: boolean }[] = [];
  const stuck: StuckInstance[] = [];
  for (const w of wantedOf(desired, observed)) {
    try {
      const steps = planInstance(w.instance, w.seen, w.status);
      paths.push({ role: w.role, steps, restart: isRestart(steps) });
    } catch (error) {
      if (!(error instanceof IllegalTransitionError) || !w.seen) throw error;
      stuck.push({
        instance: w.instance,
        status: w.seen.status,
        desired: w.status,
        reason: error.message,
      });
    }
  }
  const up = sortByRole(paths, (p) => p.role, 'up').flatMap((p) =>
    p.restart ? p.steps : p.steps.filter(isUpStep),
  );
  const down = sortByRole(paths, (p) => p.role, 'down').flatMap((p) =>
    p.restart ? [] : p.steps.filter((s) => !isUpStep(s)),
  );
  return { steps: [...up, ...down], stuck };
}

/** A path that goes down before it goes up: a restart on a pinned revision. */
function isRestart(steps: readonly PlanStep[]): boolean {
  const firstUp = steps.findIndex(isUpStep);
  return firstUp > 0 && steps.slice(0, firstUp).some((s) => s.kind === 'stop');
}

/** Every named instance with its record, then the records nobody names, wanted destroyed. */
function wantedOf(desired: readonly DesiredInstance[], observed: readonly ObservedInstance[]) {
  const byName = new Map(observed.map((o) => [o.instance, o]));
  const named = new Set(desired.map((d) => d.instance));
  return [
    ...desired.map((d) => ({ ...d, seen: byName.get(d.instance) })),
    ...observed
      .filter((o) => !named.has(o.instance))
      .map((o) => ({ instance: o.instance, role: o.role, status: 'destroyed' as const, seen: o })),
  ];
}

/**
 * One instance's steps to `desired`, by the shortest path of the state machine. Throws
 * IllegalTransitionError when there is none (a destroyed record can go nowhere).
 */
export function planInstance(
  instance: string,
  observed: Pick<ObservedInstance, 'status' | 'specCurrent' | 'restart'> | undefined,
  desired: DesiredStatus,
): PlanStep[] {
  if (!observed) {
    if (desired === 'destroyed') return [];
    return [
      { kind: 'put', instance, from: 'absent', to: 'created' },
      ...moves(instance, 'created', desired),
    ];
  }
  const { status } = observed;
  if (observed.restart === true && desired !== 'destroyed' && status !== 'stopped') {
    return [
      ...moves(instance, status, 'stopped'),
      { kind: 'put', instance, from: 'stopped', to: 'stopped' },
      ...moves(instance, 'stopped', desired),
    ];
  }
  const put: PlanStep[] =
    observed.specCurrent || desired === 'destroyed'
      ? []
      : [{ kind: 'put', instance, from: status, to: status }];
  return [...put, ...moves(instance, status, desired)];
}

/** A pause that leads into a sleep is preceded by a drain, while the guest still runs. */
function moves(instance: string, from: InstanceStatus, desired: DesiredStatus): PlanStep[] {
  const path = pathTo(from, desired, `instance '${instance}'`);
  const steps: PlanStep[] = [];
  let at = from;
  let drained = false;
  path.forEach((to, index) => {
    if (to === 'warm' && path[index + 1] === 'sleeping') {
      steps.push({ kind: 'drain', instance, from: at, to: at });
      drained = true;
    }
    const kind = edgeKind(instance, at, to);
    steps.push(
      kind === 'sleep'
        ? { kind, instance, from: at, to, drained }
        : { kind, instance, from: at, to },
    );
    at = to;
  });
  return steps;
}

function edgeKind(
  instance: string,
  from: InstanceStatus,
  to: InstanceStatus,
): Exclude<StepKind, 'put' | 'drain'> {
  switch (to) {
    case 'ready':
      return 'prepare';
    case 'running':
      if (from === 'warm') return 'resume';
      return from === 'sleeping' ? 'wake' : 'boot';
    case 'warm':
      return 'pause';
    case 'sleeping':
      return 'sleep';
    case 'stopped':
      return 'stop';
    case 'destroyed':
      return 'destroy';
    default:
      // pathTo never routes through `failed`, and nothing leads back to `created`.
      throw new IllegalTransitionError(`instance '${instance}'`, from, to, 'no step leads there');
  }
}

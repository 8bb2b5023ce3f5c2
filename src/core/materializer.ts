import { ConflictError, ValidationError } from './errors.ts';
import { isValidId } from './ids.ts';
import { idleSlots, type IdleSlot } from './idle-policy.ts';
import { validateCounts } from './pool-spec.ts';
import type { DesiredStatus, InstanceStatus, PoolCounts } from './model.ts';
import {
  heldUntil,
  hotterFirst,
  noSleepPolicy,
  toMs,
  validateSleepPolicy,
  type SleepPolicy,
} from './sleep-policy.ts';

export interface MaterializeInstance {
  id: string;
  status: InstanceStatus;
  desiredStatus: DesiredStatus;
  /** When the observed status last changed; null or absent counts as long ago. */
  statusSince?: string | null;
  /** When the instance was last seen active; null or absent = never, the coldest. */
  lastActiveAt?: string | null;
  /**
   * Set while the scheduler holds the instance asleep under memory pressure (see
   * pressure-sleep.ts); null or absent otherwise.
   */
  pressureSleptAt?: string | null;
  /**
   * The slot the idle policy holds the instance below (core/idle-policy.ts); null or absent
   * when it is where its slot puts it.
   */
  idleSlot?: IdleSlot | null;
}

export interface MaterializeInput {
  counts: PoolCounts;
  /** The pool's instances; destroyed ones (observed or desired) are left alone. */
  instances: readonly MaterializeInstance[];
  /** Minimum running and warm times; absent = none. */
  policy?: SleepPolicy;
  /** What "now" is for the minimum times (ISO text or epoch ms); needed when a minimum is set. */
  now?: string | number;
}

export interface Assignment {
  id: string;
  desiredStatus: DesiredStatus;
  /**
   * Set when an instance the idle policy holds lower moves to a higher slot: it stays where it
   * is (`desiredStatus` unchanged) and now stands in this slot, woken into it only by use.
   */
  idleSlot?: IdleSlot;
}

export interface MaterializeResult {
  /**
   * Only instances whose desired status changes, that are held asleep by pressure and leave
   * the warm slot (the caller clears the marker), or that the idle policy holds lower and move
   * to a higher slot (`idleSlot`: the caller records it), ordered by id.
   */
  assignments: Assignment[];
  /** Desired statuses of the instances to create, running first, then warm, then sleeping. */
  create: DesiredStatus[];
  /**
   * The earliest moment (ISO) a demotion put off by a minimum time falls due: materialize
   * again then. Absent when nothing was put off.
   */
  recheckAt?: string;
}

type Slot = 'running' | 'warm' | 'sleeping';
const slotOrder: readonly Slot[] = ['running', 'warm', 'sleeping'];

/**
 * Cheapest observed status first, per slot. Each list follows the number of steps to reach the
 * slot, so an instance moving towards its slot only ever climbs its own list.
 */
const preference: Readonly<Record<Slot, readonly InstanceStatus[]>> = {
  running: ['running', 'warm', 'sleeping', 'ready', 'created', 'stopped', 'failed'],
  warm: ['warm', 'running', 'sleeping', 'ready', 'created', 'stopped', 'failed'],
  sleeping: ['sleeping', 'warm', 'running', 'ready', 'created', 'stopped', 'failed'],
};

function rank(slot: Slot, instance: MaterializeInstance): number {
  const index = preference[slot].indexOf(instance.status);
  return index === -1 ? preference[slot].length : index;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The order in which instances claim a slot, key by key:
 *
 * 1. An instance already meant for this slot keeps it. Ranking purely by observed status cannot
 *    be idempotent: freshly created instances (observed `created`) would outrank reused
 *    `stopped` or `failed` ones, and instances mid-move would swap slots with every agent step.
 *    Two more count as meant for the slot: one a minimum time holds in a higher slot (the
 *    place it wins here waits for it), and one still warm on its way to running that running
 *    no longer takes (the minimum warm time may keep it in warm). Otherwise the next pass would
 *    rank them differently, and an instance walking towards another slot could overtake them.
 * 2. The cheapest move: observed status by the slot's preference list. A move not made costs
 *    nothing, so cost goes before activity; when a fleet is settled every candidate of a slot
 *    has the same observed status and this key ties.
 * 3. For `running` and `warm` only: the most recently active first (never active last). So a
 *    scale-down demotes the coldest running instances, the coldest warm ones are the first
 *    to sleep or stop, and a scale-up wakes the hottest. `sleeping` keeps to cost alone: an
 *    instance there is not active whichever it is.
 * 4. Id, so the outcome never depends on input order.
 *
 * Keys 2-4 only matter when a slot has more candidates than room or fewer assigned instances
 * than room; a settled pool with nothing held is decided by key 1 alone, so activity changing
 * between passes moves nothing.
 */
function compareFor(slot: Slot, heldAbove: ReadonlySet<string>) {
  const byActivity = slot !== 'sleeping';
  const meant = (i: MaterializeInstance) => Number(meantFor(slot, i) || heldAbove.has(i.id));
  return (a: MaterializeInstance, b: MaterializeInstance): number =>
    meant(b) - meant(a) ||
    rank(slot, a) - rank(slot, b) ||
    (byActivity ? hotterFirst(a, b) : 0) ||
    compareIds(a.id, b.id);
}

function meantFor(slot: Slot, instance: MaterializeInstance): boolean {
  if (instance.desiredStatus === slot) return true;
  return slot === 'warm' && instance.desiredStatus === 'running' && instance.status === 'warm';
}

function isPressureSlept(instance: MaterializeInstance): boolean {
  return instance.pressureSleptAt !== null && instance.pressureSleptAt !== undefined;
}

/** How far up each desired status sits; a demotion is any move down. */
export const statusHeight: Readonly<Record<DesiredStatus, number>> = {
  running: 3,
  warm: 2,
  sleeping: 1,
  stopped: 0,
  destroyed: 0,
};

/** How high each desired status a wake may raise from stands: running over warm over sleeping. */
const wakeHeights: Partial<Record<DesiredStatus, number>> = { running: 3, warm: 2, sleeping: 1 };

/**
 * Whether `to` lowers an instance desired `from` (running to warm or sleeping, warm to
 * sleeping): stamped (`loweredAt`), so a wake its node admitted before is not taken to undo it.
 */
export function lowers(from: DesiredStatus, to: DesiredStatus): boolean {
  const was = wakeHeights[from];
  const now = wakeHeights[to];
  return was !== undefined && now !== undefined && now < was;
}

const isIdleSlot = (status: DesiredStatus): status is IdleSlot =>
  (idleSlots as readonly string[]).includes(status);

function idleSlotOf(instance: MaterializeInstance): IdleSlot | undefined {
  return instance.idleSlot === null ? undefined : instance.idleSlot;
}

/**
 * How the slots see an instance. One held asleep by pressure is still its pool's warm one, and
 * one the idle policy keeps lower still holds its slot: the slots treat each as meant for that
 * slot, so no other instance is woken or created in its place.
 */
function asSeen(instance: MaterializeInstance): MaterializeInstance {
  const idle = idleSlotOf(instance);
  if (idle !== undefined) return { ...instance, desiredStatus: idle };
  return isPressureSlept(instance) ? { ...instance, desiredStatus: 'warm' } : instance;
}

/** The assignment an instance needs, if any, once its slot is known. */
function assignmentFor(instance: MaterializeInstance, to: DesiredStatus): Assignment | undefined {
  // Kept in its slot, an instance the idle policy lowered stays lower until it is woken; moved
  // to another slot above where it is held, it stays held there, standing in the new slot.
  const idle = idleSlotOf(instance);
  if (idle !== undefined) {
    if (to === idle) return undefined;
    if (isIdleSlot(to) && statusHeight[to] > statusHeight[instance.desiredStatus]) {
      return { id: instance.id, desiredStatus: instance.desiredStatus, idleSlot: to };
    }
    return { id: instance.id, desiredStatus: to };
  }
  // Kept in the warm slot, a pressure-slept instance stays asleep until the scheduler wakes it;
  // anywhere else it goes where the counts send it, and the marker goes with the assignment.
  if (isPressureSlept(instance))
    return to === 'warm' ? undefined : { id: instance.id, desiredStatus: to };
  return to === instance.desiredStatus ? undefined : { id: instance.id, desiredStatus: to };
}

function isLive(instance: MaterializeInstance): boolean {
  return instance.status !== 'destroyed' && instance.desiredStatus !== 'destroyed';
}

/** When the slot's minimum time still holds an instance there; undefined when nothing does. */
type HoldCheck = (slot: Slot, instance: MaterializeInstance) => number | undefined;

function holdCheck(input: MaterializeInput): HoldCheck {
  const policy = validateSleepPolicy(input.policy ?? noSleepPolicy);
  if (policy.minRunningSecs === 0 && policy.minWarmSecs === 0) return () => undefined;
  const nowMs = toMs(input.now);
  if (nowMs === undefined) {
    const problem = `materialize needs a valid 'now' to apply minimum times, got ${String(input.now)}`;
    throw new ValidationError(problem, [problem]);
  }
  return (slot, instance) =>
    slot === 'sleeping' ? undefined : heldUntil(slot, instance, policy, nowMs);
}

/**
 * Turns a pool's counts into per-instance desired statuses. Slots are filled running, then
 * warm, then sleeping, each in the order compareFor gives; the rest are stopped, keeping their
 * identity and data, so a later scale-up reuses them before creating any.
 *
 * Minimum times: an instance observed running less than minRunningSecs ago (and still meant to
 * run) is not demoted, and one observed warm less than minWarmSecs ago (still meant to be warm
 * or running) does not go to sleeping or stopped; each stays where it is on top of the slot's
 * count, and recheckAt says when the first of them may go. The counts still pick who belongs in
 * a slot: a held instance never displaces one the order keeps, so when its time is up it is the
 * one that goes. Meanwhile it still competes for the lower slots, and a place it wins there
 * waits for it (nothing is created or woken to fill it), so releasing it settles the pool
 * without churn. This holds for every scale-down, to zero as well and in critical pools alike;
 * only destroying a pool or tenant bypasses the materializer and so these times.
 *
 * An instance the scheduler holds asleep under memory pressure competes as the warm instance it
 * stands in for: kept in the warm slot it stays asleep (no assignment), and only a change of
 * counts that drops it from that slot moves it, clearing the marker.
 */
export function materialize(input: MaterializeInput): MaterializeResult {
  validateCounts(input.counts);
  const holds = holdCheck(input);
  let pool = input.instances.filter(isLive).map(asSeen);
  const desired = new Map<string, DesiredStatus>();
  const create: DesiredStatus[] = [];
  const due: number[] = [];
  const held = new Set<string>();
  for (const slot of slotOrder) {
    const ordered = [...pool].sort(compareFor(slot, held));
    const chosen = ordered.slice(0, input.counts[slot]);
    // One held higher up keeps its desired status; the place it wins here waits for it.
    for (const instance of chosen) if (!held.has(instance.id)) desired.set(instance.id, slot);
    for (const instance of ordered.slice(input.counts[slot])) {
      const until = held.has(instance.id) ? undefined : holds(slot, instance);
      if (until === undefined) continue;
      desired.set(instance.id, slot);
      held.add(instance.id);
      due.push(until);
    }
    // The order ends on ids, so the rest of `ordered` is the rest of the pool (no set of the
    // chosen to filter it by).
    pool = ordered.slice(chosen.length);
    for (let i = chosen.length; i < input.counts[slot]; i += 1) create.push(slot);
  }
  for (const instance of pool) if (!desired.has(instance.id)) desired.set(instance.id, 'stopped');
  const assignments: Assignment[] = [];
  for (const instance of input.instances) {
    if (!isLive(instance)) continue;
    const assignment = assignmentFor(instance, desired.get(instance.id) ?? 'stopped');
    if (assignment !== undefined) assignments.push(assignment);
  }
  assignments.sort((a, b) => compareIds(a.id, b.id));
  if (due.length === 0) return { assignments, create };
  return { assignments, create, recheckAt: new Date(Math.min(...due)).toISOString() };
}

const MAX_ID_LENGTH = 63;
const SUFFIX = /^[a-z0-9]{1,32}$/;

/**
 * `<poolId>-<suffix>`, with the pool part trimmed so the whole stays a valid id; the suffix is
 * kept whole because it is what makes the id unique. The randomness comes from the caller.
 */
export function newInstanceId(
  poolId: string,
  existingIds: Iterable<string>,
  randomSuffix: string,
): string {
  if (!SUFFIX.test(randomSuffix)) {
    const problem = `instance id suffix '${randomSuffix}' must be 1-32 characters of a-z and 0-9`;
    throw new ValidationError(problem, [problem]);
  }
  const room = MAX_ID_LENGTH - randomSuffix.length - 1;
  const prefix = poolId.slice(0, room).replace(/-+$/, '');
  const id = prefix === '' ? randomSuffix : `${prefix}-${randomSuffix}`;
  if (!isValidId(id)) {
    const problem = `pool id '${poolId}' cannot prefix an instance id; it must be a valid id`;
    throw new ValidationError(problem, [problem]);
  }
  for (const existing of existingIds) {
    if (existing === id) {
      throw new ConflictError(
        `instance id '${id}' already exists in the pool; retry with another random suffix`,
        { id },
      );
    }
  }
  return id;
}

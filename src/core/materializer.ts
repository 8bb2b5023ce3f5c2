import { ConflictError, ValidationError } from './errors.ts';
import { isValidId } from './ids.ts';
import { validateCounts } from './pool-spec.ts';
import type { DesiredStatus, InstanceStatus, PoolCounts } from './model.ts';

export interface MaterializeInstance {
  id: string;
  status: InstanceStatus;
  desiredStatus: DesiredStatus;
}

export interface MaterializeInput {
  counts: PoolCounts;
  /** The pool's instances; destroyed ones (observed or desired) are left alone. */
  instances: readonly MaterializeInstance[];
}

export interface Assignment {
  id: string;
  desiredStatus: DesiredStatus;
}

export interface MaterializeResult {
  /** Only instances whose desired status changes, ordered by id. */
  assignments: Assignment[];
  /** Desired statuses of the instances to create, running first, then warm, then sleeping. */
  create: DesiredStatus[];
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
 * An instance already meant for this slot keeps it. Ranking purely by observed status cannot be
 * idempotent: freshly created instances (observed `created`) would outrank reused `stopped` or
 * `failed` ones, and instances mid-move would swap slots with every agent step. So the observed
 * cost only decides which instances fill newly opened slots and which are dropped on scale-down;
 * id breaks the remaining ties, so the outcome never depends on input order.
 */
function compareFor(slot: Slot) {
  return (a: MaterializeInstance, b: MaterializeInstance): number =>
    Number(b.desiredStatus === slot) - Number(a.desiredStatus === slot) ||
    rank(slot, a) - rank(slot, b) ||
    compareIds(a.id, b.id);
}

function isLive(instance: MaterializeInstance): boolean {
  return instance.status !== 'destroyed' && instance.desiredStatus !== 'destroyed';
}

/**
 * Turns a pool's counts into per-instance desired statuses. Slots are filled running, then
 * warm, then sleeping; each keeps the instances already assigned to it, then takes those
 * cheapest to move there; the rest are stopped,
 * keeping their identity and data, so a later scale-up reuses them before creating any.
 */
export function materialize(input: MaterializeInput): MaterializeResult {
  validateCounts(input.counts);
  let pool = input.instances.filter(isLive);
  const desired = new Map<string, DesiredStatus>();
  const create: DesiredStatus[] = [];
  for (const slot of slotOrder) {
    const chosen = [...pool].sort(compareFor(slot)).slice(0, input.counts[slot]);
    for (const instance of chosen) desired.set(instance.id, slot);
    pool = pool.filter((instance) => !desired.has(instance.id));
    for (let i = chosen.length; i < input.counts[slot]; i += 1) create.push(slot);
  }
  for (const instance of pool) desired.set(instance.id, 'stopped');
  const assignments = input.instances
    .filter(isLive)
    .filter((instance) => desired.get(instance.id) !== instance.desiredStatus)
    .map((instance) => ({ id: instance.id, desiredStatus: desired.get(instance.id) ?? 'stopped' }))
    .sort((a, b) => compareIds(a.id, b.id));
  return { assignments, create };
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

import type { DesiredStatus, Instance } from './model.ts';
import { wakeRaises } from './wake-arming.ts';

/**
 * A node asks the coordinator before it wakes an instance on a connection (wake on connect,
 * a published port): the coordinator raises it to running only when its node has room next to
 * what it holds (core/raise-room.ts, in the same transaction as every other raise), else it
 * holds it asleep, waiting for room. The node wakes it only when the answer says it runs;
 * otherwise the held connections are reset with the reason, and nothing runs over capacity.
 */
export type WakeAdmission = { admitted: true } | { admitted: false; reason: string };

/** Why a wake is not admitted when the instance waits for room on its node. */
export const WAITING_FOR_ROOM =
  'its node has no room for it: the coordinator holds it asleep (instance.raise-waiting) and ' +
  'raises it once there is room; connect again later';

/** The coordinator's answer to a wake report, read as an admission. Pure. */
export function admissionOf(
  answer: Pick<Instance, 'desiredStatus' | 'pressureSleptAt' | 'idleSlot'>,
): WakeAdmission {
  if (answer.desiredStatus === 'running') return { admitted: true };
  if (answer.pressureSleptAt !== null && answer.idleSlot !== null) {
    return { admitted: false, reason: WAITING_FOR_ROOM };
  }
  return {
    admitted: false,
    reason: `the coordinator wants it ${answer.desiredStatus}, not running: it is not woken`,
  };
}

/** A wake the coordinator could not be asked about: refused, so nothing runs unchecked. */
export function unansweredAdmission(message: string): WakeAdmission {
  return {
    admitted: false,
    reason:
      `the coordinator did not answer the wake (${message}): not woken, so the node never ` +
      'runs beyond the room the coordinator counts; connect again once it answers',
  };
}

/**
 * Node-local fallback (docs/idle.md "When the coordinator does not answer"): a wake the
 * coordinator could not be asked about (unreachable, 5xx, no answer in time; never a "no
 * room" answer) is admitted by the node itself when its own view has room for it: its
 * capacity as configured against what its VMs hold (running, warm or booted) and the wakes it
 * admitted locally and has not yet reported. The node then reports the wake once the
 * coordinator answers again, which counts it like any raise.
 */
export interface LocalSize {
  vcpus: number;
  memMib: number;
}

export interface LocalHolder extends LocalSize {
  /** The VM's local key: a wake admitted locally that already runs is counted once. */
  key: string;
}

export interface LocalRoomView {
  capacity: LocalSize;
  /** The node's VMs that hold their size now. */
  holding: readonly LocalHolder[];
  /** Wakes admitted locally, not yet reported to the coordinator. */
  unreported: readonly LocalHolder[];
}

/** The statuses a VM holds its vCPUs and RAM in, as the node counts them. */
export const HOLDING_STATUSES: ReadonlySet<string> = new Set(['ready', 'running', 'warm']);

/** Whether the node admits `wanted` itself, from its own view. Pure. */
export function localAdmission(view: LocalRoomView, wanted: LocalHolder): WakeAdmission {
  const counted = new Map<string, LocalSize>();
  for (const h of [...view.holding, ...view.unreported]) counted.set(h.key, h);
  counted.delete(wanted.key);
  let vcpus = wanted.vcpus;
  let memMib = wanted.memMib;
  for (const h of counted.values()) {
    vcpus += h.vcpus;
    memMib += h.memMib;
  }
  if (vcpus <= view.capacity.vcpus && memMib <= view.capacity.memMib) return { admitted: true };
  return {
    admitted: false,
    reason:
      `the coordinator did not answer and this node has no room for it by its own count ` +
      `(${vcpus} of ${view.capacity.vcpus} vCPUs, ${memMib} of ${view.capacity.memMib} MiB ` +
      'with it): not woken; connect again once the coordinator answers',
  };
}

/**
 * What a node runs an instance as while a wake it admitted itself is unreported: the
 * document it holds was written before the wake (the coordinator has not heard of it), so a
 * lowered status there does not put it back down, however long the coordinator stays away;
 * stopping or destroying still wins. Pure.
 */
export function desiredWhileUnreported(desired: DesiredStatus, unreported: boolean): DesiredStatus {
  return unreported ? (wakeRaises(desired) ?? desired) : desired;
}

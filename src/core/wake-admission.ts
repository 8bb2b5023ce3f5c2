import type { Instance } from './model.ts';

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

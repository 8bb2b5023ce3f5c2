/**
 * Each instance's VMM runs as a user of its own: uid = gid = base + slot, with no
 * /etc/passwd entry (the kernel needs none). Slots are allocated lowest-free, so a destroyed
 * instance's identity is reused only after everything it owned (its jail, its files) is gone.
 */
import { ValidationError } from './errors.ts';

/** Far above the ranges distributions hand out (users, subuid ranges of 65536 from 100000). */
export const DEFAULT_UID_BASE = 2_000_000_000;
/** Instances one host can confine at once. */
export const IDENTITY_SLOTS = 65_536;

export interface Identity {
  uid: number;
  gid: number;
}

export function identityOf(base: number, slot: number): Identity {
  return { uid: base + slot, gid: base + slot };
}

/** The lowest slot not in `used`, or undefined when all `slots` are taken. */
export function lowestFreeSlot(used: Iterable<number>, slots = IDENTITY_SLOTS): number | undefined {
  const taken = new Set(used);
  for (let slot = 0; slot < slots; slot += 1) if (!taken.has(slot)) return slot;
  return undefined;
}

/** A base that keeps every slot a valid, non-root 32-bit id (uid_t, below the 2^32-1 sentinel). */
export function assertUidBase(base: number): void {
  const max = 2 ** 32 - 2 - IDENTITY_SLOTS;
  if (Number.isInteger(base) && base >= 1000 && base <= max) return;
  const problem = `uid base ${base} must be a whole number from 1000 to ${max}`;
  throw new ValidationError(problem, [problem]);
}

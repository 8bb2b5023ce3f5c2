import { ValidationError } from './errors.ts';
import { roles } from './model.ts';
import type { Role } from './model.ts';

export const defaultRole: Role = 'worker';

/** Lower starts first: the gateway must be up before anything that routes through it. */
const priorities: Readonly<Record<Role, number>> = {
  gateway: 0,
  builder: 1,
  worker: 2,
  'capability-imessage': 3,
};

export const driveKinds = ['rootfs', 'data', 'secrets', 'config'] as const;
export type DriveKind = (typeof driveKinds)[number];

const drivesByRole: Readonly<Record<Role, readonly DriveKind[]>> = {
  gateway: ['rootfs', 'data', 'secrets', 'config'],
  worker: ['rootfs', 'data', 'secrets'],
  builder: ['rootfs', 'data'],
  'capability-imessage': ['rootfs', 'data'],
};

export function rolePriority(role: Role): number {
  return priorities[role];
}

/** Ascending priority: use for scale-up and wake. */
export function compareRolesForStartup(a: Role, b: Role): number {
  return priorities[a] - priorities[b];
}

/** Descending priority: use for sleep and scale-down, so the gateway goes last. */
export function compareRolesForSleep(a: Role, b: Role): number {
  return priorities[b] - priorities[a];
}

/** Returns a new array; items with the same role keep their relative order. */
export function sortByRole<T>(
  items: readonly T[],
  getRole: (item: T) => Role,
  direction: 'up' | 'down',
): T[] {
  const compare = direction === 'up' ? compareRolesForStartup : compareRolesForSleep;
  // Array.prototype.sort is stable since ES2019, which is what keeps ties in place.
  return [...items].sort((a, b) => compare(getRole(a), getRole(b)));
}

/** The drives an instance of `role` gets, in attach order (rootfs is always the first). */
export function drivesForRole(role: Role): DriveKind[] {
  return [...drivesByRole[role]];
}

export function roleHasDrive(role: Role, drive: DriveKind): boolean {
  return drivesByRole[role].includes(drive);
}

export function isRole(value: string): value is Role {
  return (roles as readonly string[]).includes(value);
}

export function parseRole(text: string): Role {
  if (isRole(text)) return text;
  const problem = `role '${text}' is not known; use one of: ${roles.join(', ')}`;
  throw new ValidationError(problem, [problem]);
}

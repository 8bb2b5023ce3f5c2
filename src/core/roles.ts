import type { Role } from './model.ts';

/** Lower starts first: the gateway must be up before anything that routes through it. */
const priorities: Readonly<Record<Role, number>> = {
  gateway: 0,
  builder: 1,
  worker: 2,
  'capability-imessage': 3,
};

export type DriveKind = 'rootfs' | 'data' | 'secrets' | 'config';

/**
 * A config drive is attached only when the pool has config (`mvm pool config set`): seed 003
 * requires one for gateways (`gateway.json`), and workers may carry one too.
 */
const drivesByRole: Readonly<Record<Role, readonly DriveKind[]>> = {
  gateway: ['rootfs', 'data', 'secrets', 'config'],
  worker: ['rootfs', 'data', 'secrets', 'config'],
  builder: ['rootfs', 'data'],
  'capability-imessage': ['rootfs', 'data'],
};

/**
 * `up` (scale-up, wake): ascending priority, gateways first. `down` (sleep, stop, destroy):
 * descending, so the gateway goes last. Returns a new array; items with the same role keep
 * their relative order.
 */
export function sortByRole<T>(
  items: readonly T[],
  getRole: (item: T) => Role,
  direction: 'up' | 'down',
): T[] {
  const sign = direction === 'up' ? 1 : -1;
  // Array.prototype.sort is stable since ES2019, which is what keeps ties in place.
  return [...items].sort((a, b) => sign * (priorities[getRole(a)] - priorities[getRole(b)]));
}

/**
 * The optional drives a revision declares for its role (a flake's `mvm-profiles.toml`,
 * `requires_secrets_drive` / `requires_config_drive`), recorded in the revision's manifest.
 */
export interface RoleDriveSet {
  secrets: boolean;
  config: boolean;
}

/**
 * The drives an instance of `role` gets, in attach order (rootfs is always the first): the
 * revision's declared set when it has one, else the role's own. A builder runs tenant build
 * code, so it never gets a secrets drive, whatever a revision declares.
 */
export function drivesForRole(role: Role, declared?: RoleDriveSet | null): DriveKind[] {
  if (!declared) return [...drivesByRole[role]];
  return [
    'rootfs',
    'data',
    ...(declared.secrets && role !== 'builder' ? (['secrets'] as const) : []),
    ...(declared.config ? (['config'] as const) : []),
  ];
}

/** Whether instances of `role` get a drive of `kind` (secrets and config are per role). */
export function roleHasDrive(role: Role, kind: DriveKind): boolean {
  return drivesByRole[role].includes(kind);
}

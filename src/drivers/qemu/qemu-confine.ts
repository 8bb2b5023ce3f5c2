/**
 * How a QEMU is confined, as far as QEMU 7.2 allows:
 *
 * - `-sandbox`: QEMU's seccomp filter, with obsolete calls, spawning (fork/exec) and resource
 *   control (affinity, priorities) denied.
 * - `-runas <uid>:<gid>` (the instance's own unprivileged identity) and `-chroot` into an empty
 *   per-VM directory. QEMU does both after it has opened everything it needs (the drives come
 *   as descriptors, the sockets are bound, the tap is attached), then runs as that user with
 *   no capability left, seeing nothing of the host's filesystem.
 * - `setpriv --bounding-set` empties the capability bounding set before QEMU starts, except
 *   the few capabilities -chroot and -runas (and, with a network, attaching the tap by name)
 *   use; after -runas the effective and permitted sets are empty anyway.
 *
 * One limit of QEMU 7.2: its seccomp filter is installed before -runas changes user, so
 * `elevateprivileges=deny` (which forbids setuid/setgid) would kill QEMU at its own -runas.
 * With -runas the filter therefore allows those calls; they cannot raise anything: real, saved
 * and effective ids are all the instance's, no capability is left and no_new_privs is set.
 * Without -runas (an agent that is not root) the filter denies them.
 */
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { VmIdentity } from '../../ports/vmm.ts';

export interface QemuConfinement {
  /** `-sandbox`: QEMU's seccomp filter. */
  seccomp: boolean;
  /** `-runas` the spec's identity and `-chroot` an empty per-VM directory (needs root). */
  dropPrivileges: boolean;
  /** setpriv (util-linux), to shrink the capability bounding set before QEMU starts. */
  setpriv?: string;
}

export const UNCONFINED: QemuConfinement = { seccomp: false, dropPrivileges: false };

/** What one launch applies: the confinement, narrowed to what this spec allows. */
export interface LaunchConfinement {
  seccomp: boolean;
  /** Set when QEMU drops to this identity inside `chrootDir`. */
  runAs?: VmIdentity;
  chrootDir?: string;
}

export function sandboxValue(dropsPrivileges: boolean): string {
  const elevate = dropsPrivileges ? 'allow' : 'deny';
  return `on,obsolete=deny,elevateprivileges=${elevate},spawn=deny,resourcecontrol=deny`;
}

/** The command-line part of the confinement. */
export function confineArgs(launch: LaunchConfinement): string[] {
  const drops = launch.runAs !== undefined && launch.chrootDir !== undefined;
  return [
    ...(launch.seccomp ? ['-sandbox', sandboxValue(drops)] : []),
    ...(drops ? ['-runas', `${launch.runAs?.uid}:${launch.runAs?.gid}`] : []),
    // Plain arguments, not option lists: no comma escaping.
    ...(drops ? ['-chroot', launch.chrootDir ?? ''] : []),
  ];
}

/**
 * The command to spawn: QEMU itself, or QEMU behind setpriv with a bounding set of only what
 * QEMU uses before it drops to its user (setpriv execs in place: the pid is QEMU's).
 */
export function launchCommand(
  binary: string,
  args: readonly string[],
  confinement: QemuConfinement,
  launch: LaunchConfinement,
  opensTap: boolean,
): [string, string[]] {
  if (confinement.setpriv === undefined || launch.runAs === undefined) return [binary, [...args]];
  const keep = ['sys_chroot', 'setuid', 'setgid', ...(opensTap ? ['net_admin'] : [])];
  const bounding = ['-all', ...keep.map((cap) => `+${cap}`)].join(',');
  return [confinement.setpriv, ['--bounding-set', bounding, '--', binary, ...args]];
}

export interface ConfinementProbe {
  confinement: QemuConfinement;
  /** Each thing that could not be confined here, and why (the agent warns with these). */
  missing: string[];
}

/**
 * What this host and this QEMU allow: the options must be in QEMU's help, -runas and -chroot
 * need root, and setpriv must be installed to shrink the bounding set.
 */
export async function probeConfinement(
  runner: ProcessRunner,
  binary: string,
  isRoot: boolean,
): Promise<ConfinementProbe> {
  const help = await runner
    .run(binary, ['-help'], { check: false, timeoutMs: 10_000 })
    .then((r) => r.stdout)
    .catch(() => '');
  const has = (option: string): boolean => new RegExp(`^${option}\\b`, 'm').test(help);
  const missing: string[] = [];
  const seccomp = has('-sandbox');
  if (!seccomp) missing.push(`${binary} has no -sandbox (built without seccomp)`);
  const canDrop = isRoot && has('-runas') && has('-chroot');
  if (!isRoot) missing.push('the agent is not root, so QEMU cannot -chroot and -runas');
  else if (!canDrop) missing.push(`${binary} lacks -runas or -chroot`);
  const setpriv = canDrop ? await findSetpriv(runner) : undefined;
  if (canDrop && setpriv === undefined) {
    missing.push('setpriv (util-linux) is missing: the capability bounding set stays full');
  }
  return {
    confinement: { seccomp, dropPrivileges: canDrop, ...(setpriv ? { setpriv } : {}) },
    missing,
  };
}

async function findSetpriv(runner: ProcessRunner): Promise<string | undefined> {
  const result = await runner
    .run('setpriv', ['--version'], { check: false, timeoutMs: 5_000 })
    .catch(() => undefined);
  return result?.exitCode === 0 ? 'setpriv' : undefined;
}

/**
 * How a QEMU is confined, as far as QEMU 7.2 allows:
 *
 * - `-sandbox`: QEMU's seccomp filter, with obsolete calls, spawning (fork/exec) and resource
 *   control (affinity, priorities) denied.
 * - `-runas <uid>:<gid>` (the instance's own unprivileged identity) and `-chroot` into an empty
 *   per-VM directory. QEMU does both after it has opened everything it needs (the drives and
 *   taps come as descriptors, the sockets are bound), then runs as that user with no
 *   capability left, seeing nothing of the host's filesystem.
 * - The taps are attached by `mvm-tapfd` (tapfd/mvm-tapfd.c), which runs first with the
 *   agent's privileges and execs the rest of the command with each tap on a descriptor
 *   (`-netdev tap,fd=N`): attaching is the one tap operation that needs CAP_NET_ADMIN, so
 *   QEMU does not need it. Without the helper (no compiler) QEMU attaches them by name.
 * - `setpriv --bounding-set` empties the capability bounding set before QEMU starts, except
 *   the few capabilities -chroot and -runas (and, only when QEMU attaches a tap by name,
 *   net_admin) use; after -runas the effective and permitted sets are empty anyway.
 *
 * One limit of QEMU 7.2: its seccomp filter is installed before -runas changes user, so
 * `elevateprivileges=deny` (which forbids setuid/setgid) would kill QEMU at its own -runas.
 * With -runas the filter therefore allows those calls; they cannot raise anything: real, saved
 * and effective ids are all the instance's, no capability is left and no_new_privs is set.
 * Without -runas (an agent that is not root) the filter denies them.
 */
import { errorMessage, InternalError } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { VmIdentity } from '../../ports/vmm.ts';
import { DEFAULT_CACHE_DIR } from '../dev-image/cache-dir.ts';
import { ensureTapfd } from './tapfd-binary.ts';

export interface QemuConfinement {
  /** `-sandbox`: QEMU's seccomp filter. */
  seccomp: boolean;
  /** `-runas` the spec's identity and `-chroot` an empty per-VM directory (needs root). */
  dropPrivileges: boolean;
  /** setpriv (util-linux), to shrink the capability bounding set before QEMU starts. */
  setpriv?: string;
  /** The mvm-tapfd helper: taps are attached by it and passed as descriptors. */
  tapfd?: string;
}

/** A tap the helper attaches and QEMU inherits as descriptor `fd`. */
export interface TapFd {
  ifname: string;
  fd: number;
  /** Made by the helper if missing, on no bridge (tenant networking off: NetSpec.transient). */
  transient?: boolean;
}

/** How this launch's taps reach QEMU. */
export interface LaunchTaps {
  /** QEMU attaches a tap by name itself (it keeps net_admin until it drops to its user). */
  byName?: boolean;
  /** Taps mvm-tapfd attaches and QEMU inherits (`-netdev tap,fd=N`). */
  fds?: readonly TapFd[];
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
 * QEMU uses before it drops to its user, and behind mvm-tapfd when it inherits its taps (each
 * execs the next in place: the pid is QEMU's).
 */
export function launchCommand(
  binary: string,
  args: readonly string[],
  confinement: QemuConfinement,
  launch: LaunchConfinement,
  taps: LaunchTaps = {},
): [string, string[]] {
  const vmm = boundedCommand(binary, args, confinement, launch, taps.byName === true);
  const fds = taps.fds ?? [];
  if (fds.length === 0) return vmm;
  if (confinement.tapfd === undefined) {
    throw new InternalError('taps passed as descriptors without the mvm-tapfd helper');
  }
  const pairs = fds.flatMap((tap) => [
    ...(tap.transient ? ['--transient'] : []),
    tap.ifname,
    String(tap.fd),
  ]);
  return [confinement.tapfd, [...pairs, '--', vmm[0], ...vmm[1]]];
}

function boundedCommand(
  binary: string,
  args: readonly string[],
  confinement: QemuConfinement,
  launch: LaunchConfinement,
  opensTapByName: boolean,
): [string, string[]] {
  if (confinement.setpriv === undefined || launch.runAs === undefined) return [binary, [...args]];
  const keep = ['sys_chroot', 'setuid', 'setgid', ...(opensTapByName ? ['net_admin'] : [])];
  const bounding = ['-all', ...keep.map((cap) => `+${cap}`)].join(',');
  return [confinement.setpriv, ['--bounding-set', bounding, '--', binary, ...args]];
}

export interface ConfinementProbe {
  confinement: QemuConfinement;
  /** Each thing that could not be confined here, and why (the agent warns with these). */
  missing: string[];
}

export interface ProbeTools {
  /** Where mvm-tapfd is compiled and cached (default DEFAULT_CACHE_DIR). */
  cacheDir?: string;
  /** Its C compiler; default gcc. */
  cc?: string;
}

/**
 * What this host and this QEMU allow: the options must be in QEMU's help, -runas and -chroot
 * need root, setpriv must be installed to shrink the bounding set, and a C compiler must build
 * mvm-tapfd so QEMU needs no net_admin for its taps.
 */
export async function probeConfinement(
  runner: ProcessRunner,
  binary: string,
  isRoot: boolean,
  tools: ProbeTools = {},
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
  const tapfd = canDrop ? await buildTapfd(runner, tools, missing) : undefined;
  return {
    confinement: {
      seccomp,
      dropPrivileges: canDrop,
      ...(setpriv ? { setpriv } : {}),
      ...(tapfd ? { tapfd } : {}),
    },
    missing,
  };
}

async function buildTapfd(
  runner: ProcessRunner,
  tools: ProbeTools,
  missing: string[],
): Promise<string | undefined> {
  const cacheDir = tools.cacheDir ?? DEFAULT_CACHE_DIR;
  return ensureTapfd(cacheDir, runner, tools.cc ? { cc: tools.cc } : {}).catch((error: unknown) => {
    missing.push(
      `mvm-tapfd could not be built, so QEMU keeps net_admin to attach its taps by name: ${errorMessage(error)}`,
    );
    return undefined;
  });
}

async function findSetpriv(runner: ProcessRunner): Promise<string | undefined> {
  const result = await runner
    .run('setpriv', ['--version'], { check: false, timeoutMs: 5_000 })
    .catch(() => undefined);
  return result?.exitCode === 0 ? 'setpriv' : undefined;
}

import { basename, dirname, join } from 'node:path';

export interface JailerConfig {
  jailerBin: string;
  /** The jail user for specs without a `runAs` of their own (the agent always gives one). */
  uid: number;
  gid: number;
  /** The jailer builds `<chrootBaseDir>/<exec-file name>/<vm key>/root`. */
  chrootBaseDir: string;
  /** cgroup version the jailer writes `cgroups` into; no cgroup flags when unset. */
  cgroupVersion?: 1 | 2;
  /** Relative to the cgroup mount; the jailer's default is the exec-file name. */
  parentCgroup?: string;
  /** `file=value` pairs the jailer writes, e.g. `{ 'pids.max': '512' }`. */
  cgroups?: Readonly<Record<string, string>>;
  /** Network namespace path (e.g. /var/run/netns/x) for a VM, if it needs one. */
  netnsFor?: (key: string) => string | undefined;
}

/** A file as the host sees it and as the (possibly chrooted) VMM sees it. */
export interface PathPair {
  host: string;
  vmm: string;
}

/** Where every file of one VM lives. In jailer mode VMM paths are relative to the chroot. */
export interface VmLayout {
  workDir: string;
  /** The chroot's `root` directory; undefined when Firecracker runs unjailed. */
  jailRoot: string | undefined;
  apiSocket: PathPair;
  vsock: PathPair;
  log: PathPair;
  metrics: PathPair;
  /** Serial console and anything Firecracker prints before its logger is configured. */
  stdoutLog: string;
}

const API_SOCKET = 'firecracker.sock';

export function jailRootFor(jailer: JailerConfig, firecrackerBin: string, key: string): string {
  return join(jailer.chrootBaseDir, basename(firecrackerBin), key, 'root');
}

export function vmLayout(workDir: string, jailRoot: string | undefined): VmLayout {
  const place = (name: string): PathPair =>
    jailRoot === undefined
      ? { host: join(workDir, name), vmm: join(workDir, name) }
      : { host: join(jailRoot, name), vmm: `/${name}` };
  return {
    workDir,
    jailRoot,
    apiSocket: place(API_SOCKET),
    vsock: place('vsock.sock'),
    log: place('firecracker.log'),
    metrics: place('firecracker.metrics'),
    stdoutLog: join(workDir, 'firecracker.stdout.log'),
  };
}

/** Recovers the layout from a persisted handle, whatever the driver's current config is. */
export function layoutFromHandle(handle: { workDir: string; controlSocket: string }): VmLayout {
  const direct = handle.controlSocket === join(handle.workDir, API_SOCKET);
  return vmLayout(handle.workDir, direct ? undefined : dirname(handle.controlSocket));
}

/** A file the VMM must open: unchanged when unjailed, staged under the chroot otherwise. */
export function vmmFile(layout: VmLayout, hostPath: string, nameInJail: string): PathPair {
  if (layout.jailRoot === undefined) return { host: hostPath, vmm: hostPath };
  return { host: join(layout.jailRoot, nameInJail), vmm: `/${nameInJail}` };
}

/** Where Firecracker writes a snapshot before the driver moves it into place. */
export function snapshotStage(layout: VmLayout, tmpDir: string): PathPair {
  return layout.jailRoot === undefined
    ? { host: tmpDir, vmm: tmpDir }
    : { host: join(layout.jailRoot, 'snapshot-out'), vmm: '/snapshot-out' };
}

/** Never `--no-seccomp`: Firecracker's own seccomp filters stay on. */
export function jailerArgs(
  jailer: JailerConfig,
  firecrackerBin: string,
  key: string,
  apiSocketInJail: string,
  owner: { uid: number; gid: number } = jailer,
): string[] {
  const args = ['--id', key, '--exec-file', firecrackerBin];
  args.push('--uid', String(owner.uid), '--gid', String(owner.gid));
  args.push('--chroot-base-dir', jailer.chrootBaseDir);
  if (jailer.cgroupVersion !== undefined)
    args.push('--cgroup-version', String(jailer.cgroupVersion));
  if (jailer.parentCgroup !== undefined) args.push('--parent-cgroup', jailer.parentCgroup);
  for (const [file, value] of Object.entries(jailer.cgroups ?? {})) {
    args.push('--cgroup', `${file}=${value}`);
  }
  const netns = jailer.netnsFor?.(key);
  if (netns !== undefined) args.push('--netns', netns);
  return [...args, '--', '--api-sock', apiSocketInJail];
}

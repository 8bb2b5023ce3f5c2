import { readFile } from 'node:fs/promises';

interface Mount {
  root: string;
  mountPoint: string;
  fstype: string;
  /** The filesystem's own options; a v1 cgroup lists its controllers there (rw,cpu,cpuacct). */
  superOptions: string[];
}

/** A legacy (v1) cgroup hierarchy and the controllers bound to it. */
export interface CgroupV1Mount {
  mountPoint: string;
  controllers: string[];
}

/**
 * Where cgroup2 is mounted, from mountinfo text. Unified hosts have /sys/fs/cgroup; hybrid ones
 * put it elsewhere (e.g. /sys/fs/cgroup/unified), so the path is looked up, never assumed.
 */
export function findCgroup2Mount(mountinfo: string): string | undefined {
  const mounts = mountinfo
    .split('\n')
    .map(parseMountinfoLine)
    .filter((mount): mount is Mount => mount?.fstype === 'cgroup2');
  // A bind mount of a sub-cgroup would put mvm.slice somewhere unexpected: prefer the root.
  return (mounts.find((mount) => mount.root === '/') ?? mounts[0])?.mountPoint;
}

/**
 * Every v1 cgroup hierarchy with at least one controller (named ones such as name=systemd
 * hold none), its root mount preferred over bind mounts of sub-cgroups.
 */
export function findCgroupV1Mounts(mountinfo: string): CgroupV1Mount[] {
  const byControllers = new Map<string, Mount>();
  for (const mount of parseMountinfo(mountinfo).filter((m) => m.fstype === 'cgroup')) {
    const controllers = mount.superOptions.filter((o) => /^[a-z_]+$/.test(o) && !FLAGS.has(o));
    if (controllers.length === 0) continue;
    const id = controllers.sort().join(',');
    const known = byControllers.get(id);
    if (!known || (known.root !== '/' && mount.root === '/')) byControllers.set(id, mount);
  }
  return [...byControllers.entries()].map(([id, mount]) => ({
    mountPoint: mount.mountPoint,
    controllers: id.split(','),
  }));
}

/** Mount flags that show up among a cgroup's super options; not controllers. */
const FLAGS = new Set(['rw', 'ro', 'noprefix', 'clone_children', 'xattr', 'cpuset_v2_mode']);

export function parseMountinfo(mountinfo: string): Mount[] {
  return mountinfo
    .split('\n')
    .map(parseMountinfoLine)
    .filter((mount): mount is Mount => mount !== undefined);
}

export async function readMountinfo(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

export async function readCgroup2Mount(mountinfoPath: string): Promise<string | undefined> {
  try {
    return findCgroup2Mount(await readFile(mountinfoPath, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** `id parent major:minor root mountpoint options [optional...] - fstype source superoptions` */
function parseMountinfoLine(line: string): Mount | undefined {
  const separator = line.indexOf(' - ');
  if (separator < 0) return undefined;
  const fields = line.slice(0, separator).split(' ');
  const [fstype, , superOptions = ''] = line.slice(separator + 3).split(' ');
  const root = fields[3];
  const mountPoint = fields[4];
  if (root === undefined || mountPoint === undefined || fstype === undefined) return undefined;
  return {
    root: unescapeOctal(root),
    mountPoint: unescapeOctal(mountPoint),
    fstype,
    superOptions: superOptions.split(','),
  };
}

/** The kernel writes space, tab, newline and backslash in paths as `\ooo`. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

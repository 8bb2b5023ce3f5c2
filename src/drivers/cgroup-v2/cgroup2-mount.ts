import { readFile } from 'node:fs/promises';

interface Mount {
  root: string;
  mountPoint: string;
  fstype: string;
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
  const [fstype] = line.slice(separator + 3).split(' ');
  const root = fields[3];
  const mountPoint = fields[4];
  if (root === undefined || mountPoint === undefined || fstype === undefined) return undefined;
  return { root: unescapeOctal(root), mountPoint: unescapeOctal(mountPoint), fstype };
}

/** The kernel writes space, tab, newline and backslash in paths as `\ooo`. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ, 100 on every Linux we run on). */
const USER_HZ = 100;

/** A process's user and system CPU seconds since it started, from /proc/<pid>/stat. */
export async function procCpu(
  pid: number,
  read: (path: string, encoding: 'utf8') => Promise<string>,
): Promise<{ userSecs: number; sysSecs: number }> {
  const stat = await read(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { userSecs: Number(fields[11]) / USER_HZ, sysSecs: Number(fields[12]) / USER_HZ };
}

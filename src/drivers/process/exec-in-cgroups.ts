/**
 * Starts a process already inside its cgroups: a shell joins them with its own pid, then
 * execs the command in place (same pid). Memory is charged to the cgroup a task was in when
 * it touched the page, and charges do not follow a task that moves later (cgroup v2, and v1
 * by default), so a VMM placed after it started would leave its start-up memory, or a
 * restored guest's RAM, outside its own limit. The script is constant; the directories and
 * the command travel as arguments, never as shell text.
 */
const JOIN_THEN_EXEC =
  'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; done; shift; exec "$@"';

export function execInCgroups(
  cgroupDirs: readonly string[],
  command: string,
  args: readonly string[],
): [string, string[]] {
  if (cgroupDirs.length === 0) return [command, [...args]];
  return ['sh', ['-c', JOIN_THEN_EXEC, 'mvm-cgroup-exec', ...cgroupDirs, '--', command, ...args]];
}

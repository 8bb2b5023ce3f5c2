import { ValidationError } from '../../core/errors.ts';
import type { CgroupLimits } from '../../ports/cgroups.ts';

/** mvm-prefixed so orphans are recognisable; one path segment, so it cannot escape mvm.slice. */
const KEY = /^mvm-[a-z0-9](?:[a-z0-9-]{0,120}[a-z0-9])?$/;

export function isCgroupKey(key: string): boolean {
  return KEY.test(key);
}

export function assertCgroupKey(key: string): void {
  if (isCgroupKey(key)) return;
  const problem = `cgroup key ${JSON.stringify(key.slice(0, 60))} is invalid: use 'mvm-' followed by a-z, 0-9 and '-', not ending with '-'`;
  throw new ValidationError(problem, [problem]);
}

export function assertPid(pid: number): void {
  if (Number.isInteger(pid) && pid > 0) return;
  const problem = `pid ${pid} is invalid: use a positive whole number`;
  throw new ValidationError(problem, [problem]);
}

export function assertLimits(limits: CgroupLimits): void {
  const problems: string[] = [];
  if (!(Number.isFinite(limits.vcpus) && limits.vcpus > 0)) {
    problems.push(`vcpus ${limits.vcpus} must be a positive number`);
  }
  if (!(Number.isInteger(limits.memMib) && limits.memMib > 0)) {
    problems.push(`memMib ${limits.memMib} must be a positive whole number`);
  }
  if (!(Number.isInteger(limits.pids) && limits.pids > 0)) {
    problems.push(`pids ${limits.pids} must be a positive whole number`);
  }
  if (problems.length > 0) {
    throw new ValidationError(`invalid cgroup limits: ${problems.join('; ')}`, problems);
  }
}

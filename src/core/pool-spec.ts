import { ValidationError } from './errors.ts';
import { idProblem } from './ids.ts';
import type { PoolCounts } from './model.ts';

/** The values a pool is created with that are not ids or role. */
export interface PoolSpecValues {
  vcpus: number;
  memMib: number;
  dataDiskMib: number;
  flake: string;
  profile: string;
}

interface Range {
  min: number;
  max: number;
}

/** Firecracker caps a microVM at 32 vCPUs; 256 GiB RAM and 1 TiB data disk are sanity limits. */
export const poolLimits: Readonly<Record<'vcpus' | 'memMib' | 'dataDiskMib', Range>> = {
  vcpus: { min: 1, max: 32 },
  memMib: { min: 128, max: 262144 },
  dataDiskMib: { min: 0, max: 1048576 },
};

function rangeProblem(name: string, value: number, range: Range): string | undefined {
  if (Number.isInteger(value) && value >= range.min && value <= range.max) return undefined;
  return `${name} must be an integer from ${range.min} to ${range.max}, got ${value}`;
}

function flakeProblem(flake: string): string | undefined {
  if (flake.trim() === '')
    return `flake must not be empty; give a flake ref like github:org/images`;
  // Flake refs go into an argument array; whitespace there is always a copy-paste mistake.
  if (/\s/.test(flake)) return `flake '${flake}' must not contain whitespace`;
  return undefined;
}

function defined(problems: readonly (string | undefined)[]): string[] {
  return problems.filter((problem): problem is string => problem !== undefined);
}

/** Every problem with the values, for callers that merge them with other checks. */
export function poolSpecProblems(spec: PoolSpecValues): string[] {
  return defined([
    rangeProblem('vcpus', spec.vcpus, poolLimits.vcpus),
    rangeProblem('memMib', spec.memMib, poolLimits.memMib),
    rangeProblem('dataDiskMib', spec.dataDiskMib, poolLimits.dataDiskMib),
    flakeProblem(spec.flake),
    idProblem('profile', spec.profile),
  ]);
}

export function validatePoolSpec<T extends PoolSpecValues>(spec: T): T {
  throwIfAny('invalid pool', poolSpecProblems(spec));
  return spec;
}

export function countsProblems(counts: PoolCounts): string[] {
  return defined(
    (['running', 'warm', 'sleeping'] as const).map((slot) => {
      const value = counts[slot];
      if (Number.isInteger(value) && value >= 0) return undefined;
      return `count ${slot} must be a non-negative integer, got ${value}`;
    }),
  );
}

export function validateCounts(counts: PoolCounts): PoolCounts {
  throwIfAny('invalid pool counts', countsProblems(counts));
  return counts;
}

function throwIfAny(what: string, problems: readonly string[]): void {
  if (problems.length > 0) throw new ValidationError(`${what}: ${problems.join('; ')}`, problems);
}

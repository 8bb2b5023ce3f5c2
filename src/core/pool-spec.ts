import { ValidationError } from './errors.ts';
import { idProblem } from './ids.ts';
import type { PoolCounts } from './model.ts';
import { requestedSource } from './pool-source.ts';

/** The values a pool is created with that are not ids or role; no source is the dev image. */
export interface PoolSpecValues {
  vcpus: number;
  memMib: number;
  dataDiskMib: number;
  image?: string | null | undefined;
  flake?: string | null | undefined;
  profile?: string | null | undefined;
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

/** The source's problems: an image ref, or a flake ref with a profile id, or neither. */
function sourceProblems(spec: PoolSpecValues): string[] {
  const given = (value: string | null | undefined) => (value === null ? undefined : value);
  const { problems } = requestedSource({
    image: given(spec.image),
    flake: given(spec.flake),
    profile: given(spec.profile),
  });
  const profile = given(spec.profile);
  const profileProblem = profile === undefined ? undefined : idProblem('profile', profile);
  return [...problems, ...(profileProblem ? [profileProblem] : [])];
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
    ...sourceProblems(spec),
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

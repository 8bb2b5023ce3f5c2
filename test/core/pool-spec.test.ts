import { describe, it, expect } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';
import {
  countsProblems,
  poolLimits,
  poolSpecProblems,
  validateCounts,
  validatePoolSpec,
} from '../../src/core/pool-spec.ts';
import type { PoolSpecValues } from '../../src/core/pool-spec.ts';

const good: PoolSpecValues = {
  vcpus: 2,
  memMib: 1024,
  dataDiskMib: 2048,
  flake: 'github:acme/images',
  profile: 'default',
};

describe('validatePoolSpec', () => {
  it('returns valid input unchanged, extra fields included', () => {
    const spec = { ...good, role: 'worker' };
    expect(validatePoolSpec(spec)).toBe(spec);
  });

  it.each([
    { vcpus: 1 },
    { vcpus: 32 },
    { memMib: 128 },
    { memMib: 262144 },
    { dataDiskMib: 0 },
    { dataDiskMib: 1048576 },
    { flake: '.' },
    { profile: 'a' },
    { flake: undefined, profile: undefined },
    { flake: undefined, profile: undefined, image: 'oci:/images/app:v1' },
    { flake: undefined, profile: undefined, image: 'docker://registry.example/app:1' },
  ])('accepts the boundary %j', (patch) => {
    expect(poolSpecProblems({ ...good, ...patch })).toEqual([]);
  });

  it.each([
    [{ vcpus: 0 }, 'vcpus must be an integer from 1 to 32, got 0'],
    [{ vcpus: 33 }, 'vcpus must be an integer from 1 to 32, got 33'],
    [{ vcpus: 1.5 }, 'vcpus must be an integer from 1 to 32, got 1.5'],
    [{ memMib: 127 }, 'memMib must be an integer from 128 to 262144, got 127'],
    [{ memMib: 262145 }, 'memMib must be an integer from 128 to 262144, got 262145'],
    [{ memMib: Number.NaN }, 'memMib must be an integer from 128 to 262144, got NaN'],
    [{ dataDiskMib: -1 }, 'dataDiskMib must be an integer from 0 to 1048576, got -1'],
    [{ dataDiskMib: 1048577 }, 'dataDiskMib must be an integer from 0 to 1048576, got 1048577'],
    [{ flake: '' }, 'flake must not be empty; give a flake ref like github:org/images'],
    [{ flake: '   ' }, 'flake must not be empty; give a flake ref like github:org/images'],
    [
      { flake: 'github:acme/images #x' },
      "flake 'github:acme/images #x' must not contain whitespace",
    ],
    [{ profile: 'Default' }, /profile id 'Default' is invalid/],
    [{ profile: '' }, /profile id '' is invalid/],
    [{ profile: 'web-' }, /profile id 'web-' is invalid/],
    [{ flake: 'github:acme/images#tenant-x' }, /names an attribute/],
    [{ flake: 'acme/images' }, /is not a flake ref/],
    [{ profile: undefined }, 'a flake source needs both --flake and --profile'],
    [{ image: 'oci:/x' }, /not both/],
    [{ flake: undefined, profile: undefined, image: 'registry/app:1' }, /transport syntax/],
    [{ flake: undefined, profile: undefined, image: 'oci:/dir:bad tag' }, /transport syntax/],
  ] as [Partial<PoolSpecValues>, string | RegExp][])('rejects %j', (patch, problem) => {
    const problems = poolSpecProblems({ ...good, ...patch });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(problem);
    expect(() => validatePoolSpec({ ...good, ...patch })).toThrow(ValidationError);
  });

  it('collects every problem into one error', () => {
    const bad: PoolSpecValues = { vcpus: 0, memMib: 64, dataDiskMib: -5, flake: '', profile: '-' };
    try {
      validatePoolSpec(bad);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      const e = error as ValidationError;
      expect(e.problems).toHaveLength(5);
      expect(e.message).toMatch(/^invalid pool: vcpus must be/);
      expect(e.details).toEqual({ problems: e.problems });
    }
  });

  it('exposes its limits', () => {
    expect(poolLimits.vcpus).toEqual({ min: 1, max: 32 });
    expect(poolLimits.memMib.min).toBe(128);
    expect(poolLimits.dataDiskMib.max).toBe(1048576);
  });
});

describe('validateCounts', () => {
  it.each([
    { running: 0, warm: 0, sleeping: 0 },
    { running: 3, warm: 2, sleeping: 100 },
  ])('accepts %j', (counts) => {
    expect(validateCounts(counts)).toBe(counts);
  });

  it('collects every bad count', () => {
    const counts = { running: -1, warm: 0.5, sleeping: Number.NaN };
    expect(countsProblems(counts)).toEqual([
      'count running must be a non-negative integer, got -1',
      'count warm must be a non-negative integer, got 0.5',
      'count sleeping must be a non-negative integer, got NaN',
    ]);
    try {
      validateCounts(counts);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).problems).toHaveLength(3);
    }
  });

  it.each([Number.POSITIVE_INFINITY, -0.1])('rejects running %d', (running) => {
    expect(() => validateCounts({ running, warm: 0, sleeping: 0 })).toThrow(ValidationError);
  });
});

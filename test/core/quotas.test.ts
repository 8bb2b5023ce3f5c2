import { describe, it, expect } from 'vitest';
import { InternalError, QuotaExceededError, ValidationError } from '../../src/core/errors.ts';
import type { DesiredStatus, Quotas } from '../../src/core/model.ts';
import {
  checkPoolCreate,
  checkQuotas,
  defaultQuotas,
  quotaViolations,
  tenantUsage,
  validateQuotas,
} from '../../src/core/quotas.ts';
import type { TenantUsage, UsagePool } from '../../src/core/quotas.ts';

const web: UsagePool = { id: 'web', vcpus: 2, memMib: 1024, dataDiskMib: 1536 };
const ci: UsagePool = { id: 'ci', vcpus: 4, memMib: 4096, dataDiskMib: 10240 };

function instances(poolId: string, ...statuses: DesiredStatus[]) {
  return statuses.map((desiredStatus) => ({ poolId, desiredStatus }));
}

function usage(overrides: Partial<TenantUsage> = {}): TenantUsage {
  return {
    running: 0,
    warm: 0,
    vcpus: 0,
    memMib: 0,
    diskGib: 0,
    pools: 0,
    instancesByPool: {},
    ...overrides,
  };
}

describe('defaultQuotas', () => {
  it('has the documented values and is frozen', () => {
    expect(defaultQuotas).toEqual({
      maxVcpus: 64,
      maxMemMib: 65536,
      maxRunning: 32,
      maxWarm: 32,
      maxPools: 16,
      maxInstancesPerPool: 64,
      maxDiskGib: 500,
    });
    expect(Object.isFrozen(defaultQuotas)).toBe(true);
  });
});

describe('validateQuotas', () => {
  it('fills the rest from the defaults', () => {
    expect(validateQuotas({ maxRunning: 4 })).toEqual({ ...defaultQuotas, maxRunning: 4 });
    expect(validateQuotas({})).toEqual(defaultQuotas);
  });

  it('lays the update over a given base', () => {
    const base: Quotas = { ...defaultQuotas, maxPools: 2 };
    expect(validateQuotas({ maxWarm: 0 }, base)).toEqual({ ...base, maxWarm: 0 });
  });

  it('accepts zero and skips undefined values', () => {
    expect(validateQuotas({ maxVcpus: 0, maxWarm: undefined }).maxVcpus).toBe(0);
    expect(validateQuotas({ maxWarm: undefined }).maxWarm).toBe(32);
  });

  it('does not mutate the base', () => {
    const base: Quotas = { ...defaultQuotas };
    validateQuotas({ maxPools: 1 }, base);
    expect(base).toEqual(defaultQuotas);
  });

  it('collects every problem into one ValidationError', () => {
    const bad = {
      maxVcpus: -1,
      maxMemMib: 1.5,
      maxRunning: Number.NaN,
      maxWarm: '3',
      maxSnacks: 1,
    } as unknown as Partial<Quotas>;
    try {
      validateQuotas(bad);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      const e = error as ValidationError;
      expect(e.problems).toEqual([
        'quota maxVcpus must be a non-negative integer, got -1',
        'quota maxMemMib must be a non-negative integer, got 1.5',
        'quota maxRunning must be a non-negative integer, got NaN',
        'quota maxWarm must be a non-negative integer, got 3',
        "unknown quota 'maxSnacks'; known quotas: maxVcpus, maxMemMib, maxRunning, maxWarm, maxPools, maxInstancesPerPool, maxDiskGib",
      ]);
      expect(e.message).toMatch(/^invalid quotas: quota maxVcpus/);
    }
  });
});

describe('tenantUsage', () => {
  it('is empty for no pools', () => {
    expect(tenantUsage([], [])).toEqual(usage());
  });

  it('lists pools without instances with 0', () => {
    expect(tenantUsage([web, ci], [])).toEqual(
      usage({ pools: 2, instancesByPool: { web: 0, ci: 0 } }),
    );
  });

  it('charges by desired status: running holds vCPUs and RAM, warm RAM, sleeping and stopped only disk', () => {
    const result = tenantUsage(
      [web, ci],
      [
        ...instances('web', 'running', 'running', 'warm', 'sleeping', 'stopped', 'destroyed'),
        ...instances('ci', 'running', 'warm', 'warm'),
      ],
    );
    expect(result).toEqual({
      running: 3,
      warm: 3,
      vcpus: 2 * 2 + 4,
      memMib: 3 * 1024 + 3 * 4096,
      // 5 web disks (1.5 GiB each) + 3 ci disks (10 GiB each) = 37.5 GiB, rounded up once
      diskGib: 38,
      pools: 2,
      instancesByPool: { web: 5, ci: 3 },
    });
  });

  it('rounds disk up per tenant, not per instance', () => {
    const small: UsagePool = { id: 'small', vcpus: 1, memMib: 128, dataDiskMib: 100 };
    expect(tenantUsage([small], instances('small', 'stopped', 'stopped')).diskGib).toBe(1);
    const none: UsagePool = { ...small, dataDiskMib: 0 };
    expect(tenantUsage([none], instances('small', 'running')).diskGib).toBe(0);
  });

  it('ignores destroyed instances entirely', () => {
    expect(tenantUsage([web], instances('web', 'destroyed', 'destroyed'))).toEqual(
      usage({ pools: 1, instancesByPool: { web: 0 } }),
    );
  });

  it('refuses instances of a pool it was not given', () => {
    expect(() => tenantUsage([web], instances('ghost', 'running'))).toThrow(InternalError);
  });
});

describe('quotaViolations / checkQuotas', () => {
  it('passes at exactly the limits', () => {
    const atLimit = usage({
      running: 32,
      warm: 32,
      vcpus: 64,
      memMib: 65536,
      diskGib: 500,
      pools: 16,
      instancesByPool: { a: 64 },
    });
    expect(quotaViolations(defaultQuotas, atLimit)).toEqual([]);
    expect(() => checkQuotas('acme', defaultQuotas, atLimit)).not.toThrow();
  });

  it('lists every violation together', () => {
    const quotas: Quotas = {
      maxVcpus: 8,
      maxMemMib: 4096,
      maxRunning: 4,
      maxWarm: 1,
      maxPools: 1,
      maxInstancesPerPool: 3,
      maxDiskGib: 10,
    };
    const over = usage({
      running: 5,
      warm: 2,
      vcpus: 10,
      memMib: 8192,
      diskGib: 11,
      pools: 2,
      instancesByPool: { web: 4, ci: 3, api: 9 },
    });
    const expected = [
      'running 5 > max 4',
      'warm 2 > max 1',
      'vcpus 10 > max 8',
      'memory MiB 8192 > max 4096',
      'disk GiB 11 > max 10',
      'pools 2 > max 1',
      "pool 'api' instances 9 > max 3",
      "pool 'web' instances 4 > max 3",
    ];
    expect(quotaViolations(quotas, over)).toEqual(expected);
    try {
      checkQuotas('acme', quotas, over);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(QuotaExceededError);
      const e = error as QuotaExceededError;
      expect(e.code).toBe('quota_exceeded');
      expect(e.details).toEqual({ tenantId: 'acme', violations: expected });
      expect(e.message).toContain(
        "tenant 'acme' quota exceeded: running 5 > max 4; warm 2 > max 1",
      );
    }
  });

  it('a zero quota forbids any use', () => {
    const none: Quotas = { ...defaultQuotas, maxWarm: 0 };
    expect(quotaViolations(none, usage({ warm: 1 }))).toEqual(['warm 1 > max 0']);
  });

  it('works end to end from instances', () => {
    const quotas: Quotas = { ...defaultQuotas, maxRunning: 1, maxMemMib: 2048 };
    const used = tenantUsage([web], instances('web', 'running', 'running', 'warm'));
    expect(quotaViolations(quotas, used)).toEqual([
      'running 2 > max 1',
      'memory MiB 3072 > max 2048',
    ]);
  });
});

describe('checkPoolCreate', () => {
  it('allows a pool up to the limit', () => {
    expect(() => checkPoolCreate('acme', defaultQuotas, 15)).not.toThrow();
  });

  it('refuses one more than the limit', () => {
    expect(() => checkPoolCreate('acme', defaultQuotas, 16)).toThrow(QuotaExceededError);
    expect(() => checkPoolCreate('acme', { ...defaultQuotas, maxPools: 0 }, 0)).toThrow(
      /pools 1 > max 0/,
    );
  });
});

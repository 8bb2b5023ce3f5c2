import { describe, expect, it } from 'vitest';
import { changedFiles, checkConfigLimits, configLimits } from '../../src/core/pool-config.ts';
import {
  checkSecretBudget,
  effectiveSecrets,
  SECRET_NAME_PATTERN,
  secretLimits,
  utf8Bytes,
} from '../../src/core/secrets.ts';

describe('secret rules', () => {
  it('takes environment-variable-like names only', () => {
    for (const name of ['API_KEY', '_x', 'a1', 'A'.repeat(64)]) {
      expect(SECRET_NAME_PATTERN.test(name), name).toBe(true);
    }
    for (const name of [
      '1A',
      'has-dash',
      'dot.ted',
      '',
      'A'.repeat(65),
      '../x',
      'ä',
      '__proto__',
    ]) {
      expect(SECRET_NAME_PATTERN.test(name), name).toBe(false);
    }
  });

  it("gives a pool the tenant's secrets with its own in place of the same names", () => {
    const entries = [
      { name: 'B', poolId: null, v: 'tenant-b' },
      { name: 'A', poolId: null, v: 'tenant-a' },
      { name: 'A', poolId: 'web', v: 'web-a' },
      { name: 'C', poolId: 'other', v: 'other-c' },
    ];
    expect(effectiveSecrets(entries, 'web').map((e) => e.v)).toEqual(['web-a', 'tenant-b']);
    expect(effectiveSecrets(entries, 'gw').map((e) => e.v)).toEqual(['tenant-a', 'tenant-b']);
    expect(effectiveSecrets([], 'gw')).toEqual([]);
  });

  it('refuses a tenant over its count or byte budget, saying which', () => {
    const slot = (i: number, bytes: number) => ({ name: `K${i}`, poolId: null, bytes });
    const full = Array.from({ length: secretLimits.tenantCount }, (_, i) => slot(i, 1));
    expect(() => checkSecretBudget('acme', full)).not.toThrow();
    expect(() => checkSecretBudget('acme', [...full, slot(999, 1)])).toThrow(
      "tenant 'acme' would hold 257 secrets, over the limit of 256; unset secrets it no longer needs first",
    );
    expect(() => checkSecretBudget('acme', [slot(1, secretLimits.tenantBytes + 1)])).toThrow(
      /1048577 bytes of secret values, over the limit of 1048576/,
    );
    expect(utf8Bytes('é')).toBe(2);
  });
});

describe('pool config rules', () => {
  it('merges, replaces and removes files, sorted by name', () => {
    const current = { 'gateway.json': '{}', MODE: 'a' };
    expect(changedFiles(current, { set: { MODE: 'b', z: '1' } })).toEqual({
      MODE: 'b',
      'gateway.json': '{}',
      z: '1',
    });
    expect(changedFiles(current, { set: { only: 'x' }, replace: true })).toEqual({ only: 'x' });
    expect(changedFiles(current, { unset: ['MODE', 'ghost'] })).toEqual({ 'gateway.json': '{}' });
  });

  it('refuses too many files or too many bytes', () => {
    const many = Object.fromEntries(
      Array.from({ length: configLimits.files + 1 }, (_, i) => [`f${i}`, '']),
    );
    expect(() => checkConfigLimits('acme/gw', many)).toThrow(/65 files, over the limit of 64/);
    const big = { a: 'x'.repeat(configLimits.poolBytes), b: 'y' };
    expect(() => checkConfigLimits('acme/gw', big)).toThrow(
      /524289 bytes, over the limit of 524288/,
    );
    expect(() => checkConfigLimits('acme/gw', { a: 'x' })).not.toThrow();
  });
});

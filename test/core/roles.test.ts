import { describe, it, expect } from 'vitest';
import { ValidationError } from '../../src/core/errors.ts';
import { roles } from '../../src/core/model.ts';
import type { Role } from '../../src/core/model.ts';
import {
  compareRolesForSleep,
  compareRolesForStartup,
  defaultRole,
  drivesForRole,
  isRole,
  parseRole,
  roleHasDrive,
  rolePriority,
  sortByRole,
} from '../../src/core/roles.ts';

describe('rolePriority', () => {
  it.each([
    ['gateway', 0],
    ['builder', 1],
    ['worker', 2],
    ['capability-imessage', 3],
  ] as [Role, number][])('%s has priority %i', (role, priority) => {
    expect(rolePriority(role)).toBe(priority);
  });

  it('defaults to worker', () => {
    expect(defaultRole).toBe('worker');
  });
});

describe('role comparators', () => {
  it('startup sorts ascending by priority', () => {
    const sorted = [...roles].reverse().sort(compareRolesForStartup);
    expect(sorted).toEqual(['gateway', 'builder', 'worker', 'capability-imessage']);
  });

  it('sleep sorts descending by priority', () => {
    const sorted = [...roles].sort(compareRolesForSleep);
    expect(sorted).toEqual(['capability-imessage', 'worker', 'builder', 'gateway']);
  });

  it('treats equal roles as equal', () => {
    for (const role of roles) {
      expect(compareRolesForStartup(role, role)).toBe(0);
      expect(compareRolesForSleep(role, role)).toBe(0);
    }
  });
});

describe('sortByRole', () => {
  const items = [
    { id: 'w1', role: 'worker' as Role },
    { id: 'g1', role: 'gateway' as Role },
    { id: 'w2', role: 'worker' as Role },
    { id: 'c1', role: 'capability-imessage' as Role },
    { id: 'b1', role: 'builder' as Role },
    { id: 'g2', role: 'gateway' as Role },
  ];

  it('goes up in priority order and keeps ties in input order', () => {
    const sorted = sortByRole(items, (item) => item.role, 'up').map((item) => item.id);
    expect(sorted).toEqual(['g1', 'g2', 'b1', 'w1', 'w2', 'c1']);
  });

  it('goes down in reverse priority order and keeps ties in input order', () => {
    const sorted = sortByRole(items, (item) => item.role, 'down').map((item) => item.id);
    expect(sorted).toEqual(['c1', 'w1', 'w2', 'b1', 'g1', 'g2']);
  });

  it('does not mutate its input', () => {
    const before = items.map((item) => item.id);
    sortByRole(items, (item) => item.role, 'up');
    expect(items.map((item) => item.id)).toEqual(before);
  });

  it('handles an empty list', () => {
    expect(sortByRole([], (item: { role: Role }) => item.role, 'down')).toEqual([]);
  });
});

describe('drivesForRole', () => {
  it.each([
    ['gateway', ['rootfs', 'data', 'secrets', 'config']],
    ['worker', ['rootfs', 'data', 'secrets']],
    ['builder', ['rootfs', 'data']],
    ['capability-imessage', ['rootfs', 'data']],
  ] as [Role, string[]][])('%s gets %j', (role, drives) => {
    expect(drivesForRole(role)).toEqual(drives);
  });

  it('returns a copy', () => {
    drivesForRole('builder').push('config');
    expect(drivesForRole('builder')).toEqual(['rootfs', 'data']);
  });

  it('roleHasDrive agrees with drivesForRole', () => {
    expect(roleHasDrive('gateway', 'config')).toBe(true);
    expect(roleHasDrive('worker', 'config')).toBe(false);
    expect(roleHasDrive('worker', 'secrets')).toBe(true);
    expect(roleHasDrive('builder', 'secrets')).toBe(false);
  });
});

describe('parseRole', () => {
  it.each(roles)('accepts %s', (role) => {
    expect(parseRole(role)).toBe(role);
    expect(isRole(role)).toBe(true);
  });

  it.each(['', 'Worker', ' worker', 'workers', 'imessage', 'capability'])(
    'rejects %j listing the accepted roles',
    (text) => {
      expect(isRole(text)).toBe(false);
      try {
        parseRole(text);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        const e = error as ValidationError;
        expect(e.code).toBe('invalid_argument');
        expect(e.message).toContain(`'${text}'`);
        expect(e.message).toContain('gateway, builder, worker, capability-imessage');
        expect(e.problems).toHaveLength(1);
      }
    },
  );
});

import { describe, it, expect } from 'vitest';
import { roles } from '../../src/core/model.ts';
import type { Role } from '../../src/core/model.ts';
import { drivesForRole, sortByRole } from '../../src/core/roles.ts';

describe('sortByRole', () => {
  const items = [
    { id: 'w1', role: 'worker' as Role },
    { id: 'g1', role: 'gateway' as Role },
    { id: 'w2', role: 'worker' as Role },
    { id: 'c1', role: 'capability-imessage' as Role },
    { id: 'b1', role: 'builder' as Role },
    { id: 'g2', role: 'gateway' as Role },
  ];

  it('up: gateway, builder, worker, capability-imessage (the seed priorities 0-3)', () => {
    const sorted = sortByRole([...roles].reverse(), (role) => role, 'up');
    expect(sorted).toEqual(['gateway', 'builder', 'worker', 'capability-imessage']);
  });

  it('down: the reverse, so the gateway goes last', () => {
    const sorted = sortByRole(roles, (role) => role, 'down');
    expect(sorted).toEqual(['capability-imessage', 'worker', 'builder', 'gateway']);
  });

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
    ['worker', ['rootfs', 'data', 'secrets', 'config']],
    ['builder', ['rootfs', 'data']],
    ['capability-imessage', ['rootfs', 'data']],
  ] as [Role, string[]][])('%s gets %j', (role, drives) => {
    expect(drivesForRole(role)).toEqual(drives);
  });

  it.each([
    ['gateway', { secrets: true, config: true }, ['rootfs', 'data', 'secrets', 'config']],
    ['worker', { secrets: false, config: false }, ['rootfs', 'data']],
    ['worker', { secrets: true, config: false }, ['rootfs', 'data', 'secrets']],
    [
      'capability-imessage',
      { secrets: true, config: true },
      ['rootfs', 'data', 'secrets', 'config'],
    ],
    // A builder runs tenant build code: no declaration gives it secrets.
    ['builder', { secrets: true, config: true }, ['rootfs', 'data', 'config']],
  ] as [Role, { secrets: boolean; config: boolean }, string[]][])(
    '%s with a revision declaring %j gets %j',
    (role, declared, drives) => {
      expect(drivesForRole(role, declared)).toEqual(drives);
    },
  );

  it('a revision without a declaration keeps the role default', () => {
    expect(drivesForRole('worker', null)).toEqual(drivesForRole('worker'));
    expect(drivesForRole('builder', undefined)).toEqual(['rootfs', 'data']);
  });

  it('returns a copy', () => {
    drivesForRole('builder').push('config');
    expect(drivesForRole('builder')).toEqual(['rootfs', 'data']);
  });
});

import { describe, expect, it } from 'vitest';
import {
  desiredAfterWake,
  lowerGate,
  trapTargetOf,
  WAKE_HOLD_MS,
  wakeRaises,
  wakeSource,
} from '../../src/core/wake-arming.ts';
import { forgetScripts } from '../../src/core/wake-trap.ts';

const tenant = { netId: 7, gateway: '10.240.7.1' };

describe('lowerGate: an instance whose wake path is not armed is never lowered', () => {
  it('lets an instance without service ports go down as before', () => {
    expect(lowerGate({ ip: '10.240.7.2', tenant }, false)).toEqual({ kind: 'plain' });
    expect(lowerGate({ ip: '10.240.7.2', servicePorts: [], tenant }, false)).toEqual({
      kind: 'plain',
    });
  });

  it('arms the trap first for one with service ports on its tenant bridge', () => {
    expect(lowerGate({ ip: '10.240.7.2', servicePorts: [8080, 443], tenant }, true)).toEqual({
      kind: 'arm',
      target: { bridge: 'br-tenant-7', ip: '10.240.7.2', ports: [8080, 443] },
    });
  });

  it('refuses one with service ports on a node without the trap, or without a tenant network', () => {
    const noTrap = lowerGate({ ip: '10.240.7.2', servicePorts: [8080], tenant }, false);
    expect(noTrap).toMatchObject({ kind: 'refuse', reason: /does not run the wake/ });
    const noNet = lowerGate({ ip: '10.240.7.2', servicePorts: [8080] }, true);
    expect(noNet).toMatchObject({ kind: 'refuse', reason: /no tenant network/ });
    expect(trapTargetOf({ ip: '10.240.7.2', servicePorts: [8080] })).toBeUndefined();
  });
});

describe('what a wake on connect means', () => {
  it('names where the connection came from', () => {
    const gateways = new Set(['10.240.7.5']);
    expect(wakeSource('10.240.7.3', '10.240.7.1', gateways)).toBe('tenant');
    expect(wakeSource('::ffff:10.240.7.5', '10.240.7.1', gateways)).toBe('gateway');
    expect(wakeSource('10.240.7.1', '10.240.7.1', gateways)).toBe('node');
  });

  it('raises warm and sleeping to running, never a stop or a destroy', () => {
    expect(wakeRaises('sleeping')).toBe('running');
    expect(wakeRaises('warm')).toBe('running');
    expect(wakeRaises('running')).toBeUndefined();
    expect(wakeRaises('stopped')).toBeUndefined();
    expect(wakeRaises('destroyed')).toBeUndefined();
  });

  it('keeps a woken instance up for the hold whatever an older document says, then obeys it', () => {
    const at = 1_000_000;
    expect(desiredAfterWake('sleeping', at, at + 1)).toBe('running');
    expect(desiredAfterWake('warm', at, at + WAKE_HOLD_MS - 1)).toBe('running');
    expect(desiredAfterWake('destroyed', at, at + 1)).toBe('destroyed');
    expect(desiredAfterWake('sleeping', at, at + WAKE_HOLD_MS)).toBe('sleeping');
    expect(desiredAfterWake('sleeping', undefined, at)).toBe('sleeping');
  });
});

describe('forgetScripts', () => {
  it('deletes each element alone, by key, and refuses bad input', () => {
    expect(forgetScripts('br-tenant-7', '10.240.7.2', [8080])).toEqual([
      'delete element inet mvm_wake sleeping { "br-tenant-7" . 10.240.7.2 }',
      'delete element inet mvm_wake holding { "br-tenant-7" . 10.240.7.2 . 8080 }',
    ]);
    expect(() => forgetScripts('br;x', '10.240.7.2', [8080])).toThrow(/interface name/);
    expect(() => forgetScripts('br0', '10.240.7.2', [70_000])).toThrow(/not a TCP port/);
  });
});

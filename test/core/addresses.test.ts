import { describe, it, expect } from 'vitest';
import { ConflictError, ValidationError } from '../../src/core/errors.ts';
import { allocateInstanceAddress, macFor } from '../../src/core/addresses.ts';

const subnet = '10.240.99.0/24';
const netId = 99;

function ipsFrom(first: number, last: number): string[] {
  return Array.from({ length: last - first + 1 }, (_, i) => `10.240.99.${first + i}`);
}

describe('macFor', () => {
  it.each([
    [0, 0, '02:6d:76:00:00:00'],
    [99, 3, '02:6d:76:00:63:03'],
    [4095, 254, '02:6d:76:0f:ff:fe'],
    [256, 2, '02:6d:76:01:00:02'],
    [65535, 255, '02:6d:76:ff:ff:ff'],
  ])('net id %i host %i -> %s', (id, host, mac) => {
    expect(macFor(id, host)).toBe(mac);
  });

  it('is a lowercase, locally administered unicast MAC', () => {
    const mac = macFor(4095, 171);
    expect(mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const first = parseInt(mac.slice(0, 2), 16);
    expect(first & 0b10).toBe(0b10); // locally administered
    expect(first & 0b01).toBe(0); // unicast
  });

  it('is stable and distinct per (net id, host)', () => {
    expect(macFor(7, 9)).toBe(macFor(7, 9));
    const seen = new Set<string>();
    for (const id of [0, 1, 255, 256, 4095]) {
      for (let host = 0; host < 256; host += 1) seen.add(macFor(id, host));
    }
    expect(seen.size).toBe(5 * 256);
  });

  it.each([
    [-1, 3],
    [65536, 3],
    [1.5, 3],
    [1, -1],
    [1, 256],
    [1, 2.5],
  ])('rejects net id %d host %d', (id, host) => {
    expect(() => macFor(id, host)).toThrow(ValidationError);
  });
});

describe('tenant subnets', () => {
  it.each(['10.240.0.0/23', '10.240.99.0/25', '10.240.99.1/24', 'x'])(
    'rejects a non-/24 or malformed subnet %s',
    (bad) => {
      expect(() => allocateInstanceAddress({ subnet: bad, netId, usedIps: [] })).toThrow(
        ValidationError,
      );
    },
  );
});

describe('allocateInstanceAddress', () => {
  it('starts at .3', () => {
    expect(allocateInstanceAddress({ subnet, netId, usedIps: [] })).toEqual({
      ip: '10.240.99.3',
      mac: '02:6d:76:00:63:03',
    });
  });

  it('never hands out the network, gateway, builder or broadcast address', () => {
    const used: string[] = [];
    for (let i = 0; i < 252; i += 1) {
      used.push(allocateInstanceAddress({ subnet, netId, usedIps: used }).ip);
    }
    const octets = used.map((ip) => Number(ip.split('.')[3]));
    expect(Math.min(...octets)).toBe(3);
    expect(Math.max(...octets)).toBe(254);
    expect(new Set(octets).size).toBe(252);
  });

  it('takes the lowest free address, filling holes', () => {
    const usedIps = ['10.240.99.3', '10.240.99.4', '10.240.99.6'];
    expect(allocateInstanceAddress({ subnet, netId, usedIps }).ip).toBe('10.240.99.5');
  });

  it('ignores used addresses outside the subnet and the reserved ones', () => {
    const usedIps = ['10.240.98.3', '10.240.100.3', '10.240.99.1', '10.240.99.2'];
    expect(allocateInstanceAddress({ subnet, netId, usedIps }).ip).toBe('10.240.99.3');
  });

  it('hands out .254 last', () => {
    const usedIps = ipsFrom(3, 253);
    expect(allocateInstanceAddress({ subnet, netId, usedIps })).toEqual({
      ip: '10.240.99.254',
      mac: '02:6d:76:00:63:fe',
    });
  });

  it('reports a full subnet as a conflict that says what to do', () => {
    try {
      allocateInstanceAddress({ subnet, netId, usedIps: ipsFrom(0, 255) });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConflictError);
      const e = error as ConflictError;
      expect(e.message).toBe(
        'tenant subnet 10.240.99.0/24 is full: all 252 instance addresses (.3-.254) are in use; destroy unused instances to free addresses',
      );
      expect(e.details).toEqual({ subnet, capacity: 252 });
    }
  });

  it('is full when exactly .3-.254 are used', () => {
    expect(() => allocateInstanceAddress({ subnet, netId, usedIps: ipsFrom(3, 254) })).toThrow(
      ConflictError,
    );
  });

  it('rejects a malformed used address', () => {
    expect(() => allocateInstanceAddress({ subnet, netId, usedIps: ['10.240.99'] })).toThrow(
      ValidationError,
    );
  });

  it('rejects a net id a MAC cannot carry', () => {
    expect(() => allocateInstanceAddress({ subnet, netId: -1, usedIps: [] })).toThrow(
      ValidationError,
    );
  });

  it('is deterministic and independent of the order of used addresses', () => {
    const usedIps = ['10.240.99.9', '10.240.99.3', '10.240.99.4'];
    const a = allocateInstanceAddress({ subnet, netId, usedIps });
    const b = allocateInstanceAddress({ subnet, netId, usedIps: [...usedIps].reverse() });
    expect(a).toEqual(b);
    expect(a.ip).toBe('10.240.99.5');
  });
});

import { describe, it, expect } from 'vitest';
import { ConflictError, MvmError, ValidationError } from '../../src/core/errors.ts';
import {
  DEFAULT_CLUSTER_CIDR,
  allocateTenantNetwork,
  isAddressInCidr,
  parseClusterCidr,
  validateClusterCidr,
} from '../../src/core/subnets.ts';
import type { TakenNetwork } from '../../src/core/subnets.ts';

function caught(fn: () => unknown): MvmError {
  try {
    fn();
  } catch (error) {
    if (error instanceof MvmError) return error;
    throw error;
  }
  throw new Error('expected an error');
}

function taken(...netIds: number[]): TakenNetwork[] {
  // Net id n of the default cluster 10.240.0.0/12 is its n-th /24.
  return netIds.map((netId) => ({
    netId,
    subnet: `10.${240 + Math.floor(netId / 256)}.${netId % 256}.0/24`,
  }));
}

describe('cluster CIDR', () => {
  const lastNetId = (clusterCidr?: string) =>
    allocateTenantNetwork({
      ...(clusterCidr ? { clusterCidr } : {}),
      taken: [],
      requestedNetId: 5000,
    });

  it('defaults to 10.240.0.0/12 with net ids 0-4095', () => {
    expect(DEFAULT_CLUSTER_CIDR).toBe('10.240.0.0/12');
    expect(lastNetId).toThrow(/has net ids 0-4095/);
  });

  it('caps net ids at 4095 for large clusters and at the /24 count for small ones', () => {
    expect(() => lastNetId('10.0.0.0/8')).toThrow(/has net ids 0-4095/);
    expect(() => lastNetId('10.240.0.0/16')).toThrow(/has net ids 0-255/);
    expect(() => lastNetId('10.240.7.0/24')).toThrow(/has net ids 0-0/);
  });

  it('accepts prefixes up to /24 and normalizes', () => {
    expect(validateClusterCidr('10.240.0.0/12')).toBe('10.240.0.0/12');
    expect(validateClusterCidr('10.240.7.0/24')).toBe('10.240.7.0/24');
    expect(parseClusterCidr('0.0.0.0/0').prefix).toBe(0);
  });

  it.each(['10.240.0.0/25', '10.240.0.0/32'])('rejects %s as smaller than a /24', (text) => {
    const error = caught(() => validateClusterCidr(text));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(/smaller than one tenant \/24; use a prefix of \/24 or shorter/);
  });

  it.each(['10.240.0.0', '10.240.0.1/12', 'ten/12', '10.240.0.0/40'])('rejects %s', (text) => {
    expect(() => validateClusterCidr(text)).toThrow(ValidationError);
  });
});

describe('net id <-> subnet', () => {
  const byNetId = (requestedNetId: number, clusterCidr?: string) =>
    allocateTenantNetwork({ ...(clusterCidr ? { clusterCidr } : {}), taken: [], requestedNetId });
  const bySubnet = (requestedSubnet: string, clusterCidr?: string) =>
    allocateTenantNetwork({ ...(clusterCidr ? { clusterCidr } : {}), taken: [], requestedSubnet });

  it.each([
    [0, '10.240.0.0/24'],
    [1, '10.240.1.0/24'],
    [99, '10.240.99.0/24'],
    [255, '10.240.255.0/24'],
    [256, '10.241.0.0/24'],
    [4095, '10.255.255.0/24'],
  ])('net id %i <-> %s', (netId, subnet) => {
    expect(byNetId(netId).subnet).toBe(subnet);
    expect(bySubnet(subnet).netId).toBe(netId);
  });

  it('uses the given cluster', () => {
    expect(byNetId(3, '192.168.0.0/16').subnet).toBe('192.168.3.0/24');
    expect(bySubnet('192.168.3.0/24', '192.168.0.0/16').netId).toBe(3);
  });

  it('rejects net ids beyond a small cluster', () => {
    expect(() => byNetId(256, '10.240.0.0/16')).toThrow(/net ids 0-255/);
  });

  it.each([
    ['10.240.0.0/23', /must be a \/24/],
    ['10.239.255.0/24', /outside the cluster CIDR 10.240.0.0\/12/],
    ['nonsense', /not a CIDR/],
  ])('rejects the subnet %s', (subnet, message) => {
    const error = caught(() => bySubnet(subnet));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(message);
  });

  it('rejects a subnet past net id 4095 in a large cluster', () => {
    expect(bySubnet('10.15.255.0/24', '10.0.0.0/8').netId).toBe(4095);
    expect(() => bySubnet('10.16.0.0/24', '10.0.0.0/8')).toThrow(
      /beyond the last tenant subnet 10.15.255.0\/24 of 10.0.0.0\/8/,
    );
  });

  it('the gateway is .1', () => {
    expect(bySubnet('10.240.99.0/24').gateway).toBe('10.240.99.1');
  });

  it('isAddressInCidr', () => {
    expect(isAddressInCidr('10.240.99.0/24', '10.240.99.200')).toBe(true);
    expect(isAddressInCidr('10.240.99.0/24', '10.240.100.1')).toBe(false);
  });
});

describe('allocateTenantNetwork: nothing requested', () => {
  it('gives net id 0 to the first tenant, with gateway .1', () => {
    expect(allocateTenantNetwork({ taken: [] })).toEqual({
      netId: 0,
      subnet: '10.240.0.0/24',
      gateway: '10.240.0.1',
    });
  });

  it('picks the lowest free net id, filling holes', () => {
    expect(allocateTenantNetwork({ taken: taken(0, 1, 3) }).netId).toBe(2);
    expect(allocateTenantNetwork({ taken: taken(1, 2) }).netId).toBe(0);
  });

  it('skips ids whose subnet overlaps a taken network even under another net id', () => {
    const odd: TakenNetwork[] = [{ netId: 77, subnet: '10.240.0.0/23' }];
    expect(allocateTenantNetwork({ taken: odd }).netId).toBe(2);
  });

  it('ignores taken networks outside the cluster', () => {
    const foreign: TakenNetwork[] = [{ netId: 9, subnet: '192.168.0.0/24' }];
    expect(allocateTenantNetwork({ taken: foreign }).netId).toBe(0);
  });

  it('uses the given cluster CIDR', () => {
    expect(allocateTenantNetwork({ clusterCidr: '172.16.0.0/16', taken: [] })).toEqual({
      netId: 0,
      subnet: '172.16.0.0/24',
      gateway: '172.16.0.1',
    });
  });

  it('reaches net id 4095 and then reports exhaustion', () => {
    const all = Array.from({ length: 4095 }, (_, netId) => netId);
    expect(allocateTenantNetwork({ taken: taken(...all) })).toEqual({
      netId: 4095,
      subnet: '10.255.255.0/24',
      gateway: '10.255.255.1',
    });
    const error = caught(() => allocateTenantNetwork({ taken: taken(...all, 4095) }));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.message).toMatch(/all 4096 net ids of the cluster 10.240.0.0\/12 are in use/);
  });

  it('exhausts a /24 cluster after one tenant', () => {
    const clusterCidr = '10.9.9.0/24';
    expect(allocateTenantNetwork({ clusterCidr, taken: [] }).subnet).toBe('10.9.9.0/24');
    const full = [{ netId: 0, subnet: '10.9.9.0/24' }];
    expect(() => allocateTenantNetwork({ clusterCidr, taken: full })).toThrow(ConflictError);
  });

  it('rejects a bad cluster CIDR', () => {
    expect(() => allocateTenantNetwork({ clusterCidr: '10.240.0.0/28', taken: [] })).toThrow(
      ValidationError,
    );
  });
});

describe('allocateTenantNetwork: requested net id', () => {
  it.each([
    [0, '10.240.0.0/24'],
    [99, '10.240.99.0/24'],
    [4095, '10.255.255.0/24'],
  ])('net id %i -> %s', (requestedNetId, subnet) => {
    expect(allocateTenantNetwork({ taken: taken(5), requestedNetId })).toMatchObject({
      netId: requestedNetId,
      subnet,
    });
  });

  it.each([4096, -1, 2.5, Number.POSITIVE_INFINITY])(
    'rejects %d as out of range',
    (requestedNetId) => {
      const error = caught(() => allocateTenantNetwork({ taken: [], requestedNetId }));
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.message).toContain('net ids 0-4095');
    },
  );

  it('rejects a taken net id naming its holder', () => {
    const holders: TakenNetwork[] = [{ netId: 99, subnet: '10.240.99.0/24', tenantId: 'acme' }];
    const error = caught(() => allocateTenantNetwork({ taken: holders, requestedNetId: 99 }));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.code).toBe('conflict');
    expect(error.message).toBe(
      "net id 99 (10.240.99.0/24) is already used by tenant 'acme' (net id 99, 10.240.99.0/24); pick another or omit it to get the lowest free one",
    );
    expect(error.details).toMatchObject({ netId: 99, tenantId: 'acme' });
  });

  it('says "another tenant" when the holder is unnamed', () => {
    expect(() => allocateTenantNetwork({ taken: taken(7), requestedNetId: 7 })).toThrow(
      /already used by another tenant \(net id 7/,
    );
  });
});

describe('allocateTenantNetwork: requested subnet', () => {
  it('maps an aligned /24 inside the cluster to its net id', () => {
    expect(allocateTenantNetwork({ taken: [], requestedSubnet: '10.240.99.0/24' })).toEqual({
      netId: 99,
      subnet: '10.240.99.0/24',
      gateway: '10.240.99.1',
    });
    expect(allocateTenantNetwork({ taken: [], requestedSubnet: '10.255.255.0/24' }).netId).toBe(
      4095,
    );
  });

  it.each([
    ['10.240.99.0/25', /must be a \/24/],
    ['10.240.98.0/23', /must be a \/24/],
    ['10.240.99.128/24', /host bits set; did you mean 10.240.99.0\/24/],
    ['10.0.0.0/24', /outside the cluster CIDR 10.240.0.0\/12; pick a \/24 inside it/],
    ['192.168.1.0/24', /outside the cluster CIDR/],
    ['10.240.99.0', /not a CIDR/],
    ['10.240.999.0/24', /not an IPv4 address/],
  ])('rejects %s', (requestedSubnet, message) => {
    const error = caught(() => allocateTenantNetwork({ taken: [], requestedSubnet }));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(message);
  });

  it('rejects a subnet overlapping a taken one, naming the net id that holds it', () => {
    const holders: TakenNetwork[] = [{ netId: 99, subnet: '10.240.99.0/24', tenantId: 'acme' }];
    const error = caught(() =>
      allocateTenantNetwork({ taken: holders, requestedSubnet: '10.240.99.0/24' }),
    );
    expect(error).toBeInstanceOf(ConflictError);
    expect(error.message).toMatch(
      /^subnet 10.240.99.0\/24 is already used by tenant 'acme' \(net id 99, 10.240.99.0\/24\)/,
    );
  });

  it('rejects overlap with a wider taken network recorded under another net id', () => {
    const holders: TakenNetwork[] = [{ netId: 3, subnet: '10.240.4.0/22' }];
    expect(() =>
      allocateTenantNetwork({ taken: holders, requestedSubnet: '10.240.6.0/24' }),
    ).toThrow(/already used by another tenant \(net id 3, 10.240.4.0\/22\)/);
  });
});

describe('allocateTenantNetwork: both requested', () => {
  it('accepts a net id and subnet that agree', () => {
    expect(
      allocateTenantNetwork({ taken: [], requestedNetId: 99, requestedSubnet: '10.240.99.0/24' }),
    ).toEqual({ netId: 99, subnet: '10.240.99.0/24', gateway: '10.240.99.1' });
  });

  it('rejects a mismatch naming the subnet the net id maps to', () => {
    const error = caught(() =>
      allocateTenantNetwork({ taken: [], requestedNetId: 5, requestedSubnet: '10.240.99.0/24' }),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toBe(
      'net id 5 maps to 10.240.5.0/24, not 10.240.99.0/24; pass only one of them or make them agree',
    );
  });

  it('collects problems with both at once', () => {
    const error = caught(() =>
      allocateTenantNetwork({ taken: [], requestedNetId: 5000, requestedSubnet: '10.0.0.0/24' }),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems).toHaveLength(2);
  });

  it('reports a conflict when both agree but the network is taken', () => {
    expect(() =>
      allocateTenantNetwork({
        taken: taken(99),
        requestedNetId: 99,
        requestedSubnet: '10.240.99.0/24',
      }),
    ).toThrow(ConflictError);
  });
});

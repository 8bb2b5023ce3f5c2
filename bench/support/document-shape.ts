/**
 * The tenants of a node document of fleet-scale's 100k shape (500 tenants on a node, one pool
 * of two instances each: 1,000 instances), for benches that verify documents without a store.
 */
import type { DesiredTenant } from '../../src/contract/desired.ts';

const hex = (n: number) => (n & 0xff).toString(16).padStart(2, '0');

export function fleetScaleTenant(t: number): DesiredTenant {
  const net = `10.${t >> 8}.${t & 0xff}`;
  return {
    egress: false,
    gateway: `${net}.1`,
    id: `t${t.toString().padStart(4, '0')}`,
    netId: t,
    pools: [
      {
        config: null,
        critical: false,
        dataDiskMib: 1024,
        flake: '.',
        id: 'w',
        instances: [0, 1].map((i) => ({
          desiredStatus: 'running' as const,
          id: `i${t}${i}`,
          ip: `${net}.${i + 2}`,
          mac: `02:bb:${hex(t >> 8)}:${hex(t)}:${hex(i)}:00`,
        })),
        memMib: 128,
        pinned: false,
        profile: 'minimal',
        revision: null,
        role: 'worker',
        secretsDigest: null,
        vcpus: 1,
      },
    ],
    subnet: `${net}.0/24`,
    vxlanPeers: [],
  };
}

/** Tenants 1..count. */
export function fleetScaleTenants(count: number): DesiredTenant[] {
  return Array.from({ length: count }, (_, t) => fleetScaleTenant(t + 1));
}

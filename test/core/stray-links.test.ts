import { describe, expect, it } from 'vitest';
import { strayLinks } from '../../src/core/stray-links.ts';
import type { HostNetworkState, ObservedLink } from '../../src/ports/network.ts';

const link = (name: string, kind?: string, master?: string): ObservedLink => ({
  name,
  kind,
  master,
  mac: '02:00:00:00:00:01',
  up: true,
  addresses: [],
});

const state: HostNetworkState = {
  tenants: [
    { netId: 5, subnet: '10.240.5.0/24', gateway: '10.240.5.1', egress: false, vxlanPeers: [] },
  ],
  instances: [{ tenantNetId: 5, tap: 'mvt5-3', ip: '10.240.5.3', mac: '02:6d:76:00:05:03' }],
};

describe('strayLinks', () => {
  it('names dead mvm taps and bridges (ports first) and foreign ports to detach', () => {
    const stray = strayLinks(state, [
      link('br-tenant-6', 'bridge'),
      link('br-tenant-5', 'bridge'),
      link('mvt5-3', 'tun', 'br-tenant-5'),
      link('mvt5-250', 'tun', 'br-tenant-5'),
      link('mvx9', 'vxlan'),
      link('eth0'),
      link('veth-foreign', 'veth', 'br-tenant-5'),
    ]);
    expect(stray).toEqual({
      remove: ['mvt5-250', 'mvx9', 'br-tenant-6'],
      detach: ['veth-foreign'],
    });
  });

  it('finds nothing when the kernel matches the state', () => {
    const stray = strayLinks(state, [
      link('br-tenant-5', 'bridge'),
      link('mvt5-3', 'tun', 'br-tenant-5'),
    ]);
    expect(stray).toEqual({ remove: [], detach: [] });
  });
});

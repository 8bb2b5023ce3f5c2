import { expect, it } from 'vitest';
import type { DiskReport } from '../../src/contract/node-report.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fleetOver, type Fleet, type InstanceJson } from './node-health-harness.ts';

type Json = Record<string, unknown>;
const space = (count: number, kib: number) => ({ count, kib });

function disk(dataKib: number): DiskReport {
  return {
    dataDir: { path: '/var/lib/mvm', totalKib: 10_000_000, freeKib: 4_000_000 },
    cacheDir: { path: '/var/cache/mvm', totalKib: 10_000_000, freeKib: 4_000_000 },
    tenants: [
      {
        tenant: 'acme',
        instances: 2,
        dataDisks: space(2, dataKib),
        snapshots: space(1, 262_144),
        other: space(4, 96),
        revisions: ['dev'],
      },
    ],
    artifacts: {
      images: space(1, 62_000),
      initDrives: space(1, 3_100),
      kernels: space(1, 91_000),
      guestAgents: space(1, 800),
      other: space(0, 0),
    },
    orphans: space(0, 0),
  };
}

async function twoPlaced(fleet: Fleet): Promise<[InstanceJson, InstanceJson]> {
  await fleet.registerNode('node-a', 8);
  await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
  await fleet.ok('POST', '/tenants', { id: 'other', netId: 43 });
  await fleet.ok('POST', '/tenants/acme/pools', {
    id: 'web',
    flake: '.',
    profile: 'minimal',
    vcpus: 1,
    memMib: 256,
  });
  await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1, sleeping: 1 });
  const placed = await fleet.instances('?tenant=acme');
  return placed.sort((a, b) => a.desiredStatus.localeCompare(b.desiredStatus)) as [
    InstanceJson,
    InstanceJson,
  ];
}

async function tokenOf(fleet: Fleet, tenant: string): Promise<string> {
  const issued = (await fleet.ok('POST', `/tenants/${tenant}/tokens`, { name: 't' })) as Json;
  return issued.token as string;
}

await describeEachDatabase('node reports from heartbeats', ({ store }) => {
  it('keeps the latest disk report and samples, and shows one instance to its tenant', async () => {
    const fleet = await fleetOver(store());
    const [running, sleeping] = await twoPlaced(fleet);
    const before = (await fleet.ok('GET', '/nodes/node-a/report')) as Json;
    expect(before).toMatchObject({ reportedAt: null, disk: null, instances: [] });

    const sample = {
      tenant: 'acme',
      pool: 'web',
      instance: running.id,
      status: 'running',
      pid: 4242,
      tap: 'mvt42-2',
      cpuPermille: 150,
      rssKib: 200_000,
      diskKib: 1_200,
    };
    const asleep = { tenant: 'acme', pool: 'web', instance: sleeping.id, status: 'sleeping' };
    const beat = (dataKib: number) =>
      fleet.call('POST', '/nodes/node-a/heartbeat', {
        capacity: fleet.capacity(8),
        usage: { vcpus: 1, memMib: 256, instances: { running: 1 }, diskFreeMib: 4000 },
        instances: [sample, { ...asleep, snapshotKib: 262_144 }],
        disk: disk(dataKib),
      });
    expect((await beat(1_000)).status).toBe(200);
    fleet.clock.advance(5_000);
    expect((await beat(2_400)).status).toBe(200);

    const report = (await fleet.ok('GET', '/nodes/node-a/report')) as Json;
    expect(report.reportedAt).toBe(fleet.clock.now().toISOString());
    expect(report.disk).toEqual(disk(2_400));
    expect(report.instances).toEqual([sample, { ...asleep, snapshotKib: 262_144 }]);
    expect((report.node as Json).id).toBe('node-a');

    const acme = await tokenOf(fleet, 'acme');
    const path = `/tenants/acme/pools/web/instances/${running.id}/stats`;
    const stats = await fleet.call('GET', path, undefined, acme);
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({
      instance: { id: running.id, ip: running.ip, nodeId: 'node-a' },
      node: { id: 'node-a', status: 'ready' },
      sample,
    });

    // Node reports are the admin's; another tenant's token does not see acme's instance.
    expect((await fleet.call('GET', '/nodes/node-a/report', undefined, acme)).status).toBe(403);
    const other = await tokenOf(fleet, 'other');
    expect((await fleet.call('GET', path, undefined, other)).status).toBe(404);
  });

  it('answers an unplaced instance with no node and no sample, and unknown nodes with 404', async () => {
    const fleet = await fleetOver(store());
    await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
    await fleet.ok('POST', '/tenants/acme/pools', {
      id: 'web',
      flake: '.',
      profile: 'minimal',
      vcpus: 1,
      memMib: 256,
    });
    await fleet.ok('POST', '/tenants/acme/pools/web/scale', { running: 1 });
    const [unplaced] = await fleet.instances();
    const stats = (await fleet.ok(
      'GET',
      `/tenants/acme/pools/web/instances/${unplaced?.id ?? ''}/stats`,
    )) as Json;
    expect(stats).toMatchObject({ node: null, reportedAt: null, sample: null });
    const missing = await fleet.call('GET', '/nodes/nowhere/report');
    expect(missing.status).toBe(404);
  });

  it('refuses a heartbeat whose report breaks the contract, and keeps the last one', async () => {
    const fleet = await fleetOver(store());
    await twoPlaced(fleet);
    const body = (report: unknown) => ({
      capacity: fleet.capacity(8),
      usage: { vcpus: 0, memMib: 0, instances: {}, diskFreeMib: 1 },
      instances: [],
      disk: report,
    });
    expect((await fleet.call('POST', '/nodes/node-a/heartbeat', body(disk(7)))).status).toBe(200);
    const negative = { ...disk(7), orphans: space(-1, 0) };
    const bad = await fleet.call('POST', '/nodes/node-a/heartbeat', body(negative));
    expect(bad.status).toBe(400);
    expect(((await fleet.ok('GET', '/nodes/node-a/report')) as Json).disk).toEqual(disk(7));
  });
});

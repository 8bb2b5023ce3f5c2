/**
 * /v1/metrics on SQLite and Postgres, read with a strict parser of the text format: the fleet
 * gauges agree with what the API lists, a tenant's token reads only its own series, and the
 * series of destroyed instances go away.
 */
import { expect, it } from 'vitest';
import { describeEachDatabase } from '../support/store-harness.ts';
import { parsePromText, sumOf, type PromFamily } from '../support/prom-text.ts';
import { ADMIN, apiOver, ok, type Api } from './api-client-harness.ts';
import { queuedJob } from '../core/jobs/job-fixture.ts';
import type { Store } from '../../src/ports/store.ts';

type Json = Record<string, unknown>;

async function scrape(
  api: Api,
  token: string = ADMIN,
  query = '',
): Promise<{ status: number; type: string | null; families: Map<string, PromFamily> }> {
  const response = await api.request(`/metrics${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  const families = response.status === 200 ? parsePromText(text) : new Map<string, PromFamily>();
  return { status: response.status, type: response.headers.get('content-type'), families };
}

async function fleet(api: Api): Promise<void> {
  await ok(api, 'PUT', '/nodes/node-a', {
    hostname: 'node-a',
    arch: 'x86_64',
    capacity: { vcpus: 8, memMib: 8192, diskGib: 50 },
  });
  for (const [tenant, netId] of [
    ['acme', 42],
    ['other', 43],
  ] as const) {
    await ok(api, 'POST', '/tenants', { id: tenant, netId });
    await ok(api, 'POST', `/tenants/${tenant}/pools`, { id: 'web', vcpus: 2, memMib: 512 });
  }
  await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 2, warm: 1, sleeping: 1 });
  await ok(api, 'POST', '/tenants/other/pools/web/scale', { running: 1 });
}

/** Jobs straight into the store: the queue depth comes from there, whoever submitted them. */
async function jobs(store: Store): Promise<void> {
  const sha256 = 'b'.repeat(64);
  const at = '2026-11-22T00:00:00.000Z';
  for (const tenantId of ['acme', 'other']) {
    await store.jobModules.put({
      tenantId,
      sha256,
      bytes: new Uint8Array([0, 97, 115, 109]),
      createdAt: at,
    });
  }
  const job = (id: string, tenantId: string, state: 'queued' | 'succeeded') =>
    store.jobs.insert(
      queuedJob({ id, tenantId, poolId: 'web', moduleSha256: sha256, state, runAt: at }),
    );
  await job('a1', 'acme', 'queued');
  await job('a2', 'acme', 'queued');
  await job('a3', 'acme', 'succeeded');
  await job('o1', 'other', 'queued');
}

await describeEachDatabase('coordinator /metrics', ({ store }) => {
  it('fleet gauges add up to what the API lists, with histograms of the API and scheduler', async () => {
    const api = await apiOver(store());
    await fleet(api);
    await jobs(store());
    const { status, type, families } = await scrape(api);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);

    const listed = (await ok(api, 'GET', '/instances')) as Json[];
    expect(listed).toHaveLength(5);
    expect(sumOf(families, 'mvm_instances')).toBe(listed.length);
    for (const s of new Set(listed.map((i) => i.status as string))) {
      expect(sumOf(families, 'mvm_instances', { status: s })).toBe(
        listed.filter((i) => i.status === s).length,
      );
    }
    expect(sumOf(families, 'mvm_instances', { tenant: 'acme', node: 'node-a' })).toBe(
      listed.filter((i) => i.tenantId === 'acme' && i.nodeId === 'node-a').length,
    );
    expect(sumOf(families, 'mvm_pool_desired_instances', { tenant: 'acme', status: 'warm' })).toBe(
      1,
    );
    expect(sumOf(families, 'mvm_pool_instances', { tenant: 'other' })).toBe(1);
    expect(sumOf(families, 'mvm_jobs', { tenant: 'acme', pool: 'web', state: 'queued' })).toBe(2);
    expect(sumOf(families, 'mvm_jobs', { state: 'queued' })).toBe(3);
    expect(sumOf(families, 'mvm_jobs', { state: 'succeeded' })).toBe(1);

    expect(sumOf(families, 'mvm_nodes', { status: 'ready' })).toBe(1);
    expect(sumOf(families, 'mvm_nodes', { status: 'lost' })).toBe(0);
    expect(sumOf(families, 'mvm_node_capacity_vcpus', { node: 'node-a' })).toBe(8);
    // acme: 2 running + 1 warm, other: 1 running, 2 vCPUs and 512 MiB each; sleeping holds none.
    const holding = listed.filter(
      (i) => i.nodeId === 'node-a' && ['running', 'warm'].includes(i.desiredStatus as string),
    ).length;
    expect(holding).toBe(4);
    expect(sumOf(families, 'mvm_node_allocated_vcpus', { node: 'node-a' })).toBe(2 * holding);
    expect(sumOf(families, 'mvm_node_allocated_memory_bytes', { node: 'node-a' })).toBe(
      holding * 512 * 1024 * 1024,
    );
    expect(sumOf(families, 'mvm_node_overcommit_vcpus', { node: 'node-a' })).toBe(0);
    expect(sumOf(families, 'mvm_node_overcommit_memory_bytes', { node: 'node-a' })).toBe(0);
    // A node over its capacity (here declared smaller, no pass run since) shows by how much.
    const nodeA = (await store().nodes.get('node-a'))!;
    await store().nodes.update(
      'node-a',
      { capacity: { ...nodeA.capacity, vcpus: 5, memMib: 1024 } },
      nodeA.version,
    );
    const over = (await scrape(api)).families;
    expect(sumOf(over, 'mvm_node_overcommit_vcpus', { node: 'node-a' })).toBe(2 * holding - 5);
    expect(sumOf(over, 'mvm_node_overcommit_memory_bytes', { node: 'node-a' })).toBe(
      (holding * 512 - 1024) * 1024 * 1024,
    );

    const scales = sumOf(
      families,
      'mvm_http_request_duration_seconds',
      { route: 'scalePool', method: 'POST', code: '200' },
      'mvm_http_request_duration_seconds_count',
    );
    expect(scales).toBe(2);
    expect(families.get('mvm_scheduler_run_duration_seconds')?.type).toBe('histogram');
    expect(
      sumOf(
        families,
        'mvm_scheduler_run_duration_seconds',
        { outcome: 'ok' },
        'mvm_scheduler_run_duration_seconds_count',
      ),
    ).toBeGreaterThan(0);
    expect(families.get('mvm_coordinator_process_cpu_seconds_total')?.type).toBe('counter');
  });

  it("a tenant's token reads only its own series; another tenant is a 404, no token a 401", async () => {
    const api = await apiOver(store());
    await fleet(api);
    await jobs(store());
    const issued = (await ok(api, 'POST', '/tenants/acme/tokens', { name: 'prom' })) as Json;
    const token = issued.token as string;
    const own = await scrape(api, token);
    expect(own.status).toBe(200);
    expect(sumOf(own.families, 'mvm_instances')).toBe(4);
    for (const family of own.families.values()) {
      for (const sample of family.samples) expect(sample.labels.tenant).toBe('acme');
    }
    expect(sumOf(own.families, 'mvm_jobs', { state: 'queued' })).toBe(2);
    expect(own.families.has('mvm_nodes')).toBe(false);
    expect(own.families.has('mvm_http_request_duration_seconds')).toBe(false);
    expect((await scrape(api, token, '?tenant=other')).status).toBe(404);
    const anonymous = await api.request('/metrics', {});
    expect(anonymous.status).toBe(401);
    const asked = await scrape(api, ADMIN, '?tenant=other');
    expect(sumOf(asked.families, 'mvm_instances')).toBe(1);
    expect(asked.families.has('mvm_nodes')).toBe(false);
  });

  it("a destroyed pool's series go away", async () => {
    const api = await apiOver(store());
    // No node: the instances stay unplaced, so a destroy removes them at once.
    await ok(api, 'POST', '/tenants', { id: 'acme', netId: 42 });
    await ok(api, 'POST', '/tenants/acme/pools', { id: 'web', vcpus: 1, memMib: 256 });
    await ok(api, 'POST', '/tenants/acme/pools/web/scale', { running: 2 });
    const before = await scrape(api);
    expect(sumOf(before.families, 'mvm_instances', { pool: 'web', node: '' })).toBe(2);
    await ok(api, 'DELETE', '/tenants/acme/pools/web?force=true');
    expect(await ok(api, 'GET', '/instances')).toEqual([]);
    const after = await scrape(api);
    const series = [...after.families.values()].flatMap((f) => f.samples);
    expect(series.filter((s) => s.labels.pool === 'web')).toEqual([]);
  });
});

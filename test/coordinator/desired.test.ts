import { expect, it } from 'vitest';
import type { NodeDesired, SignedEnvelope } from '../../src/contract/desired.ts';
import { verifyEnvelope } from '../../src/agent/desired/verify-desired.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver, errorCode, type Api } from './api-client-harness.ts';

const NODE = {
  hostname: 'kvm-1',
  arch: 'x86_64',
  capacity: { vcpus: 32, memMib: 65536, diskGib: 100 },
};

async function setup(api: Api): Promise<void> {
  expect(
    (
      await api.call('POST', '/tenants', {
        body: { id: 'acme', netId: 7, subnet: '10.240.7.0/24' },
      })
    ).status,
  ).toBe(201);
  const pool = { id: 'workers', flake: '.', profile: 'minimal', vcpus: 1, memMib: 512 };
  expect((await api.call('POST', '/tenants/acme/pools', { body: pool })).status).toBe(201);
  expect((await api.call('PUT', '/nodes/node-1', { body: NODE })).status).toBe(200);
}

async function scale(api: Api, counts: Record<string, number>): Promise<void> {
  const response = await api.call('POST', '/tenants/acme/pools/workers/scale', { body: counts });
  expect(response.status).toBe(200);
}

async function trustedKey(api: Api): Promise<string> {
  return ((await api.call('GET', '/signing-key')).body as { publicKeyPem: string }).publicKeyPem;
}

/** Fetches and verifies the node's document the way an agent does. */
async function documentOf(api: Api, after = 0, waitMs = 0): Promise<NodeDesired> {
  const response = await api.call('GET', `/nodes/node-1/desired?after=${after}&waitMs=${waitMs}`);
  expect(response.status).toBe(200);
  const verified = verifyEnvelope(response.body as SignedEnvelope, {
    trustedKeys: [await trustedKey(api)],
    lastGeneration: after,
    production: true,
    nodeId: 'node-1',
  });
  return verified.document;
}

await describeEachDatabase('desired-state distribution', (db) => {
  it("lists a placed pool's instances on its node, signed and in a fixed order", async () => {
    const api = await apiOver(db.store());
    await setup(api);
    await scale(api, { running: 2, warm: 1 });
    const doc = await documentOf(api);
    expect(doc).toMatchObject({ schema: 'mvm.node-desired/v1', nodeId: 'node-1', generation: 1 });
    // Each entry carries the id of the request that made it: here the one scale.
    const scaleId = doc.tenants[0]?.pools[0]?.instances[0]?.requestId;
    expect(scaleId).toMatch(/^req-[0-9a-f]{16}$/);
    expect(doc.tenants).toEqual([
      {
        id: 'acme',
        netId: 7,
        subnet: '10.240.7.0/24',
        gateway: '10.240.7.1',
        vxlanPeers: [],
        egress: false,
        pools: [
          {
            id: 'workers',
            role: 'worker',
            flake: '.',
            profile: 'minimal',
            revision: null,
            vcpus: 1,
            memMib: 512,
            dataDiskMib: 1024,
            pinned: false,
            critical: false,
            secretsDigest: null,
            config: null,
            instances: [
              {
                id: 'workers-s1',
                ip: '10.240.7.3',
                mac: '02:6d:76:00:07:03',
                desiredStatus: 'running',
                requestId: scaleId,
              },
              {
                id: 'workers-s2',
                ip: '10.240.7.4',
                mac: '02:6d:76:00:07:04',
                desiredStatus: 'running',
                requestId: scaleId,
              },
              {
                id: 'workers-s3',
                ip: '10.240.7.5',
                mac: '02:6d:76:00:07:05',
                desiredStatus: 'warm',
                requestId: scaleId,
              },
            ],
          },
        ],
      },
    ]);
  });

  it('moves the generation exactly when the content changes', async () => {
    const api = await apiOver(db.store());
    await setup(api);
    // A registered node with nothing on it has an (empty) first generation.
    const empty = await documentOf(api);
    expect(empty).toMatchObject({ generation: 1, tenants: [] });
    await scale(api, { running: 1 });
    const one = await documentOf(api);
    expect(one.generation).toBe(2);
    expect((await documentOf(api)).generation).toBe(2);
    await scale(api, { running: 1 }); // no-op scale
    expect((await documentOf(api)).generation).toBe(2);
    const status = await api.call('PUT', '/nodes/node-1/instances/acme/workers/workers-s1/status', {
      body: { status: 'running' },
    });
    expect(status.status).toBe(200); // observed status is not part of the document
    expect((await documentOf(api)).generation).toBe(2);
    await api.call('POST', '/tenants/acme/pools/workers/instances/workers-s1/actions', {
      body: { action: 'destroy' },
    });
    const destroyed = await documentOf(api);
    expect(destroyed.generation).toBe(3);
    // Still listed, so the agent tears it down instead of forgetting it.
    expect(destroyed.tenants[0]?.pools[0]?.instances).toMatchObject([
      { id: 'workers-s1', desiredStatus: 'destroyed' },
    ]);
    expect(destroyed.issuedAt).toBe('2026-11-22T00:00:00.000Z');
  });

  it('refuses unknown nodes and callers without a token', async () => {
    const api = await apiOver(db.store());
    await setup(api);
    const unknown = await api.call('GET', '/nodes/node-9/desired');
    expect(unknown.status).toBe(404);
    expect(errorCode(unknown)).toBe('not_found');
    expect((await api.call('GET', '/nodes/node-1/desired', { token: null })).status).toBe(401);
    expect((await api.call('GET', '/nodes/node-1/desired?waitMs=30001')).status).toBe(400);
    expect((await api.call('GET', '/signing-key')).body).toMatchObject({
      algorithm: 'ed25519',
      keyId: expect.stringMatching(/^[0-9a-f]{16}$/) as unknown,
    });
  });

  it('answers a waiting watcher right after a scale made by another request', async () => {
    const api = await apiOver(db.store());
    await setup(api);
    await scale(api, { running: 1 });
    const current = (await documentOf(api)).generation;
    const unchanged = await api.call('GET', `/nodes/node-1/desired?after=${current}&waitMs=50`);
    expect(unchanged.body).toEqual({ unchanged: true, generation: current });
    const waitMs = 10_000;
    const watch = documentOf(api, current, waitMs).then((doc) => ({ doc, at: performance.now() }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const scaledAt = performance.now();
    await scale(api, { running: 2 });
    const { doc, at } = await watch;
    const latency = at - scaledAt;
    console.log(`[${db.name}] scale → watcher holds new document: ${latency.toFixed(1)} ms`);
    expect(doc.generation).toBe(current + 1);
    expect(latency).toBeLessThan(1_000);
  });

  it('wakes a watcher on one coordinator after a scale through another (store poll)', async () => {
    const a = await apiOver(db.store());
    const b = await apiOver(await db.reopen());
    await setup(b);
    await scale(b, { running: 1 });
    const current = (await documentOf(a)).generation;
    const waitMs = 10_000;
    const watch = documentOf(a, current, waitMs).then((doc) => ({ doc, at: performance.now() }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const scaledAt = performance.now();
    await scale(b, { running: 3 });
    const { doc, at } = await watch;
    const latency = at - scaledAt;
    console.log(`[${db.name}] scale on B → watcher on A: ${latency.toFixed(1)} ms (poll path)`);
    expect(doc.generation).toBe(current + 1);
    expect(doc.tenants[0]?.pools[0]?.instances).toHaveLength(3);
    // Bounded by the 500 ms poll, far from the 10 s wait.
    expect(latency).toBeLessThan(2_000);
  });
});

/**
 * A node's document builds again only the tenant entries whose inputs changed
 * (desired/tenant-entries.ts): on a random sequence of changes to kept inputs (each a new
 * object, as the caches make them), the document built with the memo is byte-identical to one
 * built without it (its content the kept entries' texts joined, its digest their digests'),
 * and exactly the changed
 * tenants are built and serialized. The service on both stores is
 * covered by desired-patch.test.ts (byte-identical to a fresh replica's after random changes).
 */
import { expect, it } from 'vitest';
import { documentDigest } from '../../src/coordinator/desired/document-digest.ts';
import { TenantEntries } from '../../src/coordinator/desired/tenant-entries.ts';
import {
  buildNodeDocument,
  documentContent,
  type DocumentInstance,
  type PoolWorkload,
  type TenantNetworkInfo,
} from '../../src/core/desired-doc.ts';
import type { Pool } from '../../src/core/model.ts';

function random(seed: number) {
  let state = seed;
  return (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
}

const statuses = ['running', 'warm', 'sleeping', 'stopped'] as const;

it('builds only changed tenants, byte-identical to a document built whole', () => {
  const pick = random(7);
  const tenants: TenantNetworkInfo[] = Array.from({ length: 30 }, (_, t) => ({
    id: `t${t}`,
    netId: t + 1,
    subnet: `10.240.${t}.0/24`,
    gateway: `10.240.${t}.1`,
  }));
  const pools: Pool[] = tenants.map(
    (t) =>
      ({
        tenantId: t.id,
        id: 'web',
        role: 'worker',
        flake: '.',
        profile: 'minimal',
        revision: null,
        vcpus: 1,
        memMib: 256,
        dataDiskMib: 1024,
        pinned: false,
        critical: false,
        servicePorts: [],
      }) as unknown as Pool,
  );
  let instances: DocumentInstance[] = tenants.flatMap((t, n) =>
    [0, 1].map((i) => ({
      tenantId: t.id,
      poolId: 'web',
      id: `i${i}`,
      ip: `10.240.${n}.${i + 2}`,
      mac: `02:00:00:00:${n.toString(16).padStart(2, '0')}:0${i}`,
      status: 'running' as const,
      desiredStatus: 'running' as const,
      nodeId: 'n1',
      sleepForced: false,
      pinnedRevision: null,
    })),
  );
  let peers = new Map<string, readonly string[]>();
  let workloads = new Map<string, PoolWorkload>();
  let requestIds = new Map<string, string>();
  const entries = new TenantEntries();
  const build = (memo: boolean) => {
    const forNode = memo ? entries.forNode('n1') : undefined;
    const doc = buildNodeDocument(
      'n1',
      tenants,
      pools,
      instances,
      { generation: 0, issuedAt: '' },
      peers,
      workloads,
      requestIds,
      forNode?.memo,
    );
    forNode?.done();
    // The kept entries' texts joined (each serialized once) against the whole serialization,
    // and the digest made of the kept entries' digests against one of every tenant's text.
    return `${documentContent(doc, forNode?.text)} ${documentDigest(doc, forNode?.digest)}`;
  };
  expect(build(true)).toBe(build(false));
  expect(entries.last).toEqual({ reused: 0, built: 30, serialized: 30 });
  for (let round = 0; round < 80; round += 1) {
    const t = pick(tenants.length);
    const id = `t${t}`;
    switch (pick(9)) {
      case 6: // the tenant's instances leave the node, or come back
        instances = instances.map((i) =>
          i.tenantId === id ? { ...i, nodeId: i.nodeId === 'n1' ? 'n2' : 'n1' } : i,
        );
        break;
      case 7: // an instance confirmed destroyed: no line in the document
        instances = instances.map((i) =>
          i.tenantId === id && i.id === 'i1'
            ? { ...i, status: 'destroyed', desiredStatus: 'destroyed' }
            : i,
        );
        break;
      case 8: // a request id that JSON escapes
        requestIds = new Map(requestIds).set(`${id}/web/i0`, `"q\\${round}\u2028é`);
        break;
      case 0: // an instance's status: a new row object
        instances = instances.map((i) =>
          i.tenantId === id && i.id === 'i0'
            ? { ...i, desiredStatus: statuses[pick(statuses.length)] ?? 'running' }
            : i,
        );
        break;
      case 1: // a request id
        requestIds = new Map(requestIds).set(`${id}/web/i1`, `req-${round}`);
        break;
      case 2: // peers, a fresh array with the same content or not
        peers = new Map(peers).set(
          id,
          pick(2) === 0 ? [...(peers.get(id) ?? [])] : [`192.0.2.${round}`],
        );
        break;
      case 3: // the pool's workload
        workloads = new Map(workloads).set(`${id}/web`, {
          secretsDigest: `d${round}`,
          config: null,
        });
        break;
      case 4: // the pool's record
        pools[t] = { ...(pools[t] as Pool), memMib: 256 + round };
        break;
      default: // the tenant's record
        tenants[t] = { ...(tenants[t] as TenantNetworkInfo), egress: round % 2 === 0 };
    }
    const whole = build(false);
    expect(build(true), `round ${round}`).toBe(whole);
    // One tenant built again at most (peers set to the same content are not a change), and
    // only what was built is serialized.
    expect(entries.last.built).toBeLessThanOrEqual(1);
    expect(entries.last.serialized).toBeLessThanOrEqual(entries.last.built);
    expect(entries.last.reused + entries.last.built).toBe(30);
  }
  // And an unchanged document builds and serializes nothing.
  build(true);
  expect(entries.last).toEqual({ reused: 30, built: 0, serialized: 0 });
});

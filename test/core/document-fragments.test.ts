/**
 * A document's content assembled from kept per-instance fragments (core/document-fragments.ts)
 * is byte for byte documentContent's, over random documents rebuilt with some rows changed,
 * and an unchanged row keeps its entry (it is not built or serialized again).
 */
import { expect, it } from 'vitest';
import type { DesiredInstance } from '../../src/contract/desired.ts';
import {
  buildNodeDocument,
  documentContent,
  type DocumentInstance,
  type PoolWorkload,
  type TenantNetworkInfo,
} from '../../src/core/desired-doc.ts';
import { DocumentFragments } from '../../src/core/document-fragments.ts';
import type { Pool } from '../../src/core/model.ts';

/** A small deterministic generator, so a failure names its seed. */
function random(seed: number) {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] as T,
  };
}

/** Strings that would trip a splice by text: keys named like members, quotes, escapes. */
const AWKWARD = [
  'instances',
  '"instances":[]',
  'pools',
  'a"b',
  'back\\slash',
  'ünï',
  '',
  'x\u0000y',
];
const STATUSES = ['running', 'warm', 'sleeping', 'stopped', 'destroyed'] as const;

function world(rnd: ReturnType<typeof random>) {
  const tenants: TenantNetworkInfo[] = [];
  const pools: Pool[] = [];
  const workloads = new Map<string, PoolWorkload>();
  for (let t = 0; t < 1 + rnd.int(4); t += 1) {
    const id = `t${t}`;
    tenants.push({
      id,
      netId: 10 + t,
      subnet: `10.240.${10 + t}.0/24`,
      gateway: `10.240.${10 + t}.1`,
      ...(rnd.int(2) === 0 ? { egress: true } : {}),
    });
    for (let p = 0; p < 1 + rnd.int(3); p += 1) {
      const pool = {
        tenantId: id,
        id: rnd.pick(['web', 'api', 'instances', 'pools', 'z']) + p,
        role: 'worker',
        flake: rnd.int(2) === 0 ? null : rnd.pick(AWKWARD),
        profile: rnd.pick([null, 'minimal']),
        revision: rnd.pick([null, 'r1']),
        vcpus: 1 + rnd.int(4),
        memMib: 256,
        dataDiskMib: rnd.int(2) * 1024,
        pinned: rnd.int(2) === 0,
        critical: rnd.int(2) === 0,
        servicePorts: rnd.int(2) === 0 ? [] : [8080],
        ...(rnd.int(2) === 0 ? { publish: [{ port: 443, target: 8443 }] } : {}),
        ...(rnd.int(2) === 0 ? { hooks: { preSleep: rnd.pick(AWKWARD) } } : {}),
      } as unknown as Pool;
      pools.push(pool);
      if (rnd.int(2) === 0) {
        const files = Object.fromEntries(
          AWKWARD.slice(0, 1 + rnd.int(4)).map((k) => [k, rnd.pick(AWKWARD)]),
        );
        workloads.set(`${id}/${pool.id}`, {
          secretsDigest: rnd.pick([null, 'abc']),
          config: { version: 1 + rnd.int(3), files },
        });
      }
    }
  }
  return { tenants, pools, workloads };
}

function row(rnd: ReturnType<typeof random>, pool: Pool, n: number): DocumentInstance {
  return {
    tenantId: pool.tenantId,
    poolId: pool.id,
    id: `${pool.id}-${n}`,
    ip: `10.240.0.${n % 250}`,
    mac: `02:00:00:00:00:${(n % 256).toString(16).padStart(2, '0')}`,
    status: 'running',
    desiredStatus: rnd.pick(STATUSES),
    nodeId: rnd.int(8) === 0 ? 'n2' : 'n1',
    ...(rnd.int(3) === 0 ? { sleepForced: true } : {}),
    ...(rnd.int(3) === 0 ? { pinnedRevision: rnd.pick(AWKWARD) } : {}),
  };
}

it('assembles exactly documentContent, build after build, as rows change', () => {
  for (let seed = 1; seed <= 40; seed += 1) {
    const rnd = random(seed);
    const { tenants, pools, workloads } = world(rnd);
    const fragments = new DocumentFragments();
    let rows = pools.flatMap((pool, p) =>
      Array.from({ length: rnd.int(6) }, (_, n) => row(rnd, pool, p * 10 + n)),
    );
    let requestIds = new Map<string, string>();
    let previous = new Map<DocumentInstance, DesiredInstance>();
    for (let round = 0; round < 6; round += 1) {
      const peers = new Map(tenants.map((t) => [t.id, rnd.int(2) === 0 ? [] : ['192.0.2.9']]));
      const build = (f?: DocumentFragments) =>
        buildNodeDocument(
          'n1',
          tenants,
          pools,
          rows,
          { generation: 0, issuedAt: '' },
          peers,
          workloads,
          requestIds,
          f,
        );
      const doc = build(fragments);
      expect(fragments.content(doc), `seed ${seed} round ${round}`).toBe(documentContent(doc));
      expect(documentContent(doc)).toBe(documentContent(build()));
      // An unchanged row (same object, same request id) keeps its entry object.
      const entries = new Map(
        doc.tenants.flatMap((t) => t.pools.flatMap((p) => p.instances)).map((e) => [e.id, e]),
      );
      for (const [r, entry] of previous) {
        const now = entries.get(r.id);
        if (
          now &&
          rows.includes(r) &&
          requestIds.get(`${r.tenantId}/${r.poolId}/${r.id}`) === entry.requestId
        ) {
          expect(now).toBe(entry);
        }
      }
      previous = new Map(
        rows.flatMap((r) => {
          const e = entries.get(r.id);
          return e ? [[r, e] as const] : [];
        }),
      );
      // Some rows change (new objects), some go, some arrive; some request ids move.
      rows = rows
        .filter(() => rnd.int(6) !== 0)
        .map((r) => (rnd.int(4) === 0 ? { ...r, desiredStatus: rnd.pick(STATUSES) } : r));
      const pool = rnd.pick(pools);
      rows.push(row(rnd, pool, 100 + round));
      requestIds = new Map(requestIds);
      const moved = rnd.pick(rows);
      if (moved)
        requestIds.set(`${moved.tenantId}/${moved.poolId}/${moved.id}`, `req-${seed}-${round}`);
    }
  }
});

it('gives the same text for a document built without kept entries', () => {
  const fragments = new DocumentFragments();
  const doc = buildNodeDocument('n1', [], [], [], { generation: 1, issuedAt: 'x' });
  expect(fragments.content(doc)).toBe(documentContent(doc));
  expect(fragments.content(doc)).toBe(
    '{"nodeId":"n1","schema":"mvm.node-desired/v1","tenants":[]}',
  );
});

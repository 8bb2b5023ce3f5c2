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
import { nodeDocument } from '../../src/coordinator/desired/node-document.ts';
import type { NodeRows, TenantRows } from '../../src/coordinator/desired/node-rows.ts';
import { TenantEntries } from '../../src/coordinator/desired/tenant-entries.ts';
import type { TenantInputs } from '../../src/coordinator/desired/tenant-inputs.ts';
import {
  buildNodeDocument,
  documentContent,
  type DocumentInstance,
  type PoolWorkload,
  type TenantNetworkInfo,
} from '../../src/core/desired-doc.ts';
import type { InstanceMove } from '../../src/core/instance-move.ts';
import type { Pool } from '../../src/core/model.ts';
import { holdMoving } from '../../src/core/move-hold.ts';
import type { TenantRecord } from '../../src/ports/store.ts';

type Move = Pick<InstanceMove, 'tenantId' | 'poolId' | 'instanceId' | 'sourceNode' | 'step'>;

/**
 * The node's rows by tenant as node-rows.ts keeps them: a tenant's rows stay the same object
 * while its instances and request ids are the same (the cache replaces only touched tenants).
 */
function regroup(
  previous: NodeRows | undefined,
  instances: readonly DocumentInstance[],
  requestIds: ReadonlyMap<string, string>,
): NodeRows {
  const tenants = new Map<string, TenantRows>();
  const ids = [...new Set(instances.filter((i) => i.nodeId === 'n1').map((i) => i.tenantId))];
  for (const id of ids.sort()) {
    const mine = instances.filter((i) => i.tenantId === id && i.nodeId === 'n1');
    const keys = mine.map((i) => `${i.tenantId}/${i.poolId}/${i.id}`);
    const rows: TenantRows = {
      instances: new Map(mine.map((i, n) => [keys[n] ?? '', i])),
      requestIds: new Map(
        keys.flatMap((k) => (requestIds.has(k) ? [[k, requestIds.get(k) ?? '']] : [])),
      ),
      poolIds: new Set(mine.map((i) => i.poolId)),
    };
    const kept = previous?.tenants.get(id);
    const same =
      kept !== undefined &&
      kept.instances.size === rows.instances.size &&
      [...rows.instances].every(([k, i]) => kept.instances.get(k) === i) &&
      kept.requestIds.size === rows.requestIds.size &&
      [...rows.requestIds].every(([k, r]) => kept.requestIds.get(k) === r);
    tenants.set(id, same ? kept : rows);
  }
  return { tenants, order: [...tenants.keys()] };
}

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
  let moves: Move[] = [];
  const entries = new TenantEntries();
  let rows: NodeRows | undefined;
  // Each tenant's inputs as tenant-inputs.ts keeps them: a new object when one part changed.
  const keptInputs = new Map<string, TenantInputs>();
  const inputsOf = (t: number): TenantInputs => {
    const tenant = tenants[t] as TenantNetworkInfo as TenantRecord;
    const pool = pools[t] as Pool;
    const workload = workloads.get(`${tenant.id}/web`);
    const kept = keptInputs.get(tenant.id);
    if (
      kept?.tenant === tenant &&
      kept.pools[0] === pool &&
      kept.workloads.get(`${tenant.id}/web`) === workload
    )
      return kept;
    const made: TenantInputs = {
      tenant,
      pools: [pool],
      workloads: new Map(workload ? [[`${tenant.id}/web`, workload]] : []),
      nodeIds: [],
      poolIds: new Set(['web']),
    };
    keptInputs.set(tenant.id, made);
    return made;
  };
  const build = (memo: boolean) => {
    const forNode = memo ? entries.forNode('n1') : undefined;
    let doc;
    if (forNode) {
      rows = regroup(rows, instances, requestIds);
      const byTenant = new Map(tenants.map((t, n) => [t.id, inputsOf(n)]));
      doc = nodeDocument('n1', rows, { byTenant, peers }, moves, forNode.memo);
    } else {
      doc = buildNodeDocument(
        'n1',
        tenants,
        pools,
        holdMoving(instances, moves),
        { generation: 0, issuedAt: '' },
        peers,
        workloads,
        requestIds,
      );
    }
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
    switch (pick(11)) {
      case 9: // a move out of this node starts or ends (no row changes)
        moves = moves.some((m) => m.tenantId === id)
          ? moves.filter((m) => m.tenantId !== id)
          : [
              ...moves,
              {
                tenantId: id,
                poolId: 'web',
                instanceId: 'i0',
                sourceNode: 'n1',
                step: 'exporting',
              },
            ];
        break;
      case 10: // a move into this node, or one out of it that ended: neither holds anything
        moves = [
          ...moves,
          pick(2) === 0
            ? { tenantId: id, poolId: 'web', instanceId: 'i1', sourceNode: 'n2', step: 'exporting' }
            : { tenantId: id, poolId: 'web', instanceId: 'i1', sourceNode: 'n1', step: 'done' },
        ];
        break;
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
    // Every tenant with rows on the node is looked at; one whose instances left is not.
    expect(entries.last.reused + entries.last.built).toBe(rows?.order.length);
  }
  // And an unchanged document builds and serializes nothing.
  build(true);
  expect(entries.last).toEqual({ reused: rows?.order.length, built: 0, serialized: 0 });
});

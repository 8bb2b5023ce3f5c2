import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planDrain, type DrainInput } from '../../src/core/drain-plan.ts';
import {
  desiredStatuses,
  instanceStatuses,
  type DesiredStatus,
  type InstanceStatus,
} from '../../src/core/model.ts';
import type { PlacementNode } from '../../src/core/placement.ts';

const node = (id: string, vcpus: number, memMib: number): PlacementNode => ({
  id,
  vcpus,
  memMib,
  usedVcpus: 0,
  usedMemMib: 0,
  poolCounts: {},
});

const pools: DrainInput['pools'] = new Map([
  ['acme/web', { pinned: false, critical: false, vcpus: 1, memMib: 512 }],
  ['acme/db', { pinned: true, critical: false, vcpus: 1, memMib: 512 }],
  ['acme/big', { pinned: false, critical: true, vcpus: 4, memMib: 4096 }],
]);

const inst = (poolId: string, id: string, status: InstanceStatus, desired?: DesiredStatus) => ({
  tenantId: 'acme',
  poolId,
  id,
  status,
  desiredStatus:
    desired ??
    (status === 'running' || status === 'warm' || status === 'sleeping' || status === 'stopped'
      ? status
      : 'running'),
});

describe('planDrain', () => {
  it('says a fleet of one node has no other node to take its instances', () => {
    const actions = planDrain({
      source: 'node-a',
      instances: [inst('web', 'w-1', 'sleeping')],
      pools,
      nodes: [node('node-a', 8, 8192)],
    });
    expect(actions).toEqual([
      {
        kind: 'wait',
        key: 'acme/web/w-1',
        reason: "no node takes it: no ready node other than 'node-a'",
      },
    ]);
  });

  it('moves sleeping ones as they are, sleeps and wakes running and warm ones, and pinned ones wait', () => {
    const actions = planDrain({
      source: 'node-a',
      instances: [
        inst('web', 'w-1', 'running'),
        inst('web', 'w-2', 'warm'),
        inst('web', 'w-3', 'sleeping'),
        inst('web', 'w-4', 'created'),
        inst('web', 'w-5', 'failed'),
        inst('web', 'w-6', 'stopped'),
        inst('web', 'w-7', 'running', 'destroyed'),
        inst('db', 'd-1', 'sleeping'),
      ],
      pools,
      nodes: [node('node-a', 8, 8192), node('node-b', 4, 4096)],
    });
    expect(actions).toEqual([
      { kind: 'wait', key: 'acme/db/d-1', reason: 'its pool is pinned to this node' },
      { kind: 'move', key: 'acme/web/w-1', target: 'node-b', sleepFirst: true, restore: 'running' },
      { kind: 'move', key: 'acme/web/w-2', target: 'node-b', sleepFirst: true, restore: 'warm' },
      {
        kind: 'move',
        key: 'acme/web/w-3',
        target: 'node-b',
        sleepFirst: false,
        restore: 'sleeping',
      },
      { kind: 'replace', key: 'acme/web/w-4' },
      expect.objectContaining({ kind: 'wait', key: 'acme/web/w-5' }),
      {
        kind: 'move',
        key: 'acme/web/w-6',
        target: 'node-b',
        sleepFirst: false,
        restore: 'stopped',
      },
      { kind: 'skip', key: 'acme/web/w-7' },
    ]);
  });

  it('an instance that would wake where nothing has room waits, saying why; a sleeping one still moves', () => {
    const actions = planDrain({
      source: 'node-a',
      instances: [inst('big', 'b-1', 'running'), inst('big', 'b-2', 'sleeping')],
      pools,
      nodes: [node('node-b', 2, 2048)],
    });
    expect(actions[0]).toMatchObject({ kind: 'wait', key: 'acme/big/b-1' });
    expect((actions[0] as { reason: string }).reason).toContain('no node takes it');
    expect(actions[1]).toMatchObject({ kind: 'move', target: 'node-b', restore: 'sleeping' });
  });

  // A record is never 'destroyed' (it is gone); every other status and any desired one.
  const statusArb = fc.constantFrom(...instanceStatuses.filter((s) => s !== 'destroyed'));
  const desiredArb = fc.constantFrom(...desiredStatuses);
  const inputArb = fc.record({
    instances: fc.uniqueArray(
      fc.record({
        tenantId: fc.constant('acme'),
        poolId: fc.constantFrom('web', 'db', 'big', 'gone'),
        id: fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/),
        status: statusArb,
        desiredStatus: desiredArb,
      }),
      { selector: (i) => `${i.poolId}/${i.id}`, maxLength: 25 },
    ),
    nodes: fc.uniqueArray(
      fc.record({
        id: fc.constantFrom('node-a', 'node-b', 'node-c', 'node-d'),
        vcpus: fc.integer({ min: 0, max: 8 }),
        memMib: fc.integer({ min: 0, max: 8192 }),
      }),
      { selector: (n) => n.id, maxLength: 4 },
    ),
  });

  it('properties: one action per instance, never to the source, pinned never move, woken ones fit', () => {
    fc.assert(
      fc.property(inputArb, ({ instances, nodes }) => {
        const placement = nodes.map((n) => node(n.id, n.vcpus, n.memMib));
        const actions = planDrain({ source: 'node-a', instances, pools, nodes: placement });
        const keys = instances.map((i) => `${i.tenantId}/${i.poolId}/${i.id}`).sort();
        expect(actions.map((a) => a.key)).toEqual(keys);
        const used = new Map<string, { vcpus: number; memMib: number }>();
        for (const a of actions) {
          const [, poolId] = a.key.split('/');
          if (poolId === 'db') expect(a.kind === 'wait' || a.kind === 'skip').toBe(true);
          if (a.kind !== 'move') continue;
          expect(a.target).not.toBe('node-a');
          expect(placement.map((n) => n.id)).toContain(a.target);
          const pool = pools.get(`acme/${poolId}`);
          expect(pool).toBeDefined();
          if (a.restore === 'running' || a.restore === 'warm') {
            const u = used.get(a.target) ?? { vcpus: 0, memMib: 0 };
            used.set(a.target, { vcpus: u.vcpus + pool!.vcpus, memMib: u.memMib + pool!.memMib });
          }
        }
        for (const [id, u] of used) {
          const n = placement.find((p) => p.id === id)!;
          expect(u.vcpus).toBeLessThanOrEqual(n.vcpus);
          expect(u.memMib).toBeLessThanOrEqual(n.memMib);
        }
        // The input's order does not change the plan.
        const reversed = planDrain({
          source: 'node-a',
          instances: [...instances].reverse(),
          pools,
          nodes: [...placement].reverse(),
        });
        expect(reversed).toEqual(actions);
      }),
      { numRuns: 300 },
    );
  });
});

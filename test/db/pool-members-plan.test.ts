import fc from 'fast-check';
import { beforeEach, expect, it } from 'vitest';
import { planPool } from '../../src/coordinator/services/pool-service.ts';
import { idleSlots } from '../../src/core/idle-policy.ts';
import {
  desiredStatuses,
  instanceStatuses,
  type Instance,
  type PoolCounts,
} from '../../src/core/model.ts';
import type { PoolMember } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { insertTwoTenants, instance, pool } from './fixtures.ts';

const RUNS = 30;
const NOW = Date.parse('2025-01-01T01:00:00.000Z');

/** A time within the hour before NOW, to the millisecond, or null. */
const time = fc.option(
  fc.integer({ min: 0, max: 3_600_000 }).map((ms) => new Date(NOW - ms).toISOString()),
);

/**
 * Mostly one of `common` (so a slot often has more candidates of one status than room, and
 * activity and ids decide), sometimes any of `all`.
 */
function mostly<T extends string>(common: readonly T[], all: readonly T[]) {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...common), weight: 4 },
    { arbitrary: fc.constantFrom(...all), weight: 1 },
  );
}

const member = fc.record({
  suffix: fc.stringMatching(/^[a-z0-9]{1,6}$/),
  status: mostly(['running', 'warm'] as const, instanceStatuses),
  desiredStatus: mostly(['running', 'warm'] as const, desiredStatuses),
  nodeId: fc.constantFrom(null, 'n1', 'n2'),
  statusSince: time,
  lastActiveAt: time,
  pressureSleptAt: time,
  idleSlot: fc.constantFrom(null, ...idleSlots),
  version: fc.integer({ min: 1, max: 1_000_000 }),
});

const scaledPool = fc.record({
  members: fc.uniqueArray(member, { selector: (m) => m.suffix, maxLength: 40 }),
  minRunningSecs: fc.constantFrom(0, 60, 1800),
  minWarmSecs: fc.constantFrom(0, 60, 1800),
  counts: fc.record({
    running: fc.nat({ max: 25 }),
    warm: fc.nat({ max: 15 }),
    sleeping: fc.nat({ max: 5 }),
  }),
});

/** What a change of intent weighs of an instance (ports/store.ts' PoolMember). */
function weighed(i: Instance): PoolMember {
  const { tenantId, poolId, id, status, desiredStatus, nodeId, statusSince, lastActiveAt } = i;
  const { pressureSleptAt, idleSlot, version } = i;
  return {
    ...{ tenantId, poolId, id, status, desiredStatus, nodeId, statusSince, lastActiveAt },
    ...{ pressureSleptAt, idleSlot, version },
  };
}

const live = <T extends { status: string; desiredStatus: string }>(rows: readonly T[]) =>
  rows.filter((i) => i.status !== 'destroyed' && i.desiredStatus !== 'destroyed');

/**
 * A scale's read of its pool's members (`pools.withMembers`; on Postgres one text of the
 * members, pool-members.ts' `membersText`) answers each member's weighed fields exactly as its
 * full row has them, and the plan over them is the plan over the full rows: randomized pools of
 * every observed and desired status, nodes, status times, activity, pressure marks, idle slots,
 * versions and minimum times.
 */
await describeEachDatabase("a scale's read and plan of its pool's members", ({ store }) => {
  beforeEach(async () => {
    await insertTwoTenants(store());
  });

  it('reads every weighed field of every member and plans as over the full rows', async () => {
    let run = 0;
    let host = 0;
    await fc.assert(
      fc.asyncProperty(scaledPool, async (drawn) => {
        run += 1;
        const poolId = `p${run}`;
        const scaled = pool('acme', poolId, {
          minRunningSecs: drawn.minRunningSecs,
          minWarmSecs: drawn.minWarmSecs,
        });
        await store().pools.insert(scaled);
        for (const m of drawn.members) {
          host += 1;
          const { suffix, ...fields } = m;
          await store().instances.insert(
            instance(`w-${suffix}`, 0, {
              ...fields,
              poolId,
              ip: `10.${(host >> 16) & 255}.${(host >> 8) & 255}.${host & 255}`,
              mac: `02:00:00:${[host >> 16, host >> 8, host]
                .map((b) => (b & 255).toString(16).padStart(2, '0'))
                .join(':')}`,
            }),
          );
        }
        const { members } = await store().pools.withMembers('acme', poolId);
        const full = await store().instances.list({ tenantId: 'acme', poolId });
        expect(members).toEqual(full.map(weighed));
        const counts: PoolCounts = drawn.counts;
        const now = new Date(NOW);
        expect(planPool(scaled, live(members ?? []), now, counts)).toEqual(
          planPool(scaled, live(full), now, counts),
        );
      }),
      { numRuns: RUNS },
    );
  });
});

import fc from 'fast-check';
import type { Kysely } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { CompiledStatements, type CompiledStatement } from '../../src/db/compiled-statement.ts';
import { openDatabase } from '../../src/db/open-store.ts';
import { auditRow } from '../../src/db/repos/audit-repo.ts';
import {
  bumpMarks,
  marksParams,
  marksStatement,
  marksWithAuditStatement,
  marksProbeStatement,
  marksWithAuditProbeStatement,
} from '../../src/db/repos/mark-bump.ts';
import { poolUpdateParams, poolUpdateStatement } from '../../src/db/repos/pool-repo.ts';
import {
  poolsOfTenantStatement,
  withMembersStatement,
} from '../../src/db/repos/pools-with-members.ts';
import { tenantLockStatement } from '../../src/db/repos/tenant-repo.ts';
import { scaleWriteParams, scaleWriteStatement } from '../../src/db/repos/pool-scale-write.ts';
import { withRequestId } from '../../src/drivers/request-context.ts';
import { schedulerWorkStatement } from '../../src/db/repos/instance-probes.ts';
import { updateParams, updateStatement } from '../../src/db/repos/instance-repo.ts';
import type { Database } from '../../src/db/schema.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { expectSameAsBuilt, type Observe } from './compiled-equal.ts';
import { T1, T2, insertTwoTenants, instance } from './fixtures.ts';

/**
 * The statements every pool scale runs, compiled once (docs/scale.md, "The scale's statements
 * compiled once"): each the same SQL, parameters, answer and effects as Kysely's own build.
 */

const RUNS = 25;

/** The tables a scale writes, compared without the instances' change stamps. */
const scaleTables: Observe = {
  tables: async (trx) => {
    const pools = await trx.selectFrom('pools').selectAll().orderBy(['tenant_id', 'id']).execute();
    const marks = await trx
      .selectFrom('document_marks')
      .select(['scope', 'seq'])
      .orderBy('scope')
      .execute();
    const audit = await trx
      .selectFrom('audit_events')
      .select(['tenant_id', 'at', 'actor', 'action', 'target', 'detail'])
      .orderBy('id')
      .execute();
    const instances = await trx
      .selectFrom('instances')
      .selectAll()
      .orderBy(['tenant_id', 'pool_id', 'id'])
      .execute();
    return { pools, marks, audit, instances };
  },
  comparable: unstamped,
};

/**
 * `seen` with every instance's change stamp left out: on Postgres it is the writing
 * transaction's id, another in each run (the SQL compared says the stamp is written).
 */
function unstamped(seen: unknown): unknown {
  return JSON.parse(
    JSON.stringify(seen, (key, value: unknown) =>
      key === 'change_seq' ? undefined : typeof value === 'bigint' ? String(value) : value,
    ),
  );
}

function expectSame<P extends object, R>(
  db: Kysely<Database>,
  statements: CompiledStatements,
  statement: CompiledStatement<Database, P, R>,
  params: P,
): Promise<void> {
  return expectSameAsBuilt(db, statements, statement, params, scaleTables);
}

const tenants = fc.constantFrom('acme', 'beta', 'nobody');
const pools = fc.constantFrom('workers', 'gateways', 'missing');
/** Some of the columns a pool update sets (a scale's counts and queue, others' settings). */
const poolColumns = fc.record(
  {
    desired_running: fc.nat(300),
    desired_warm: fc.nat(300),
    desired_sleeping: fc.nat(300),
    queue_added: fc.nat(5),
    pinned: fc.constantFrom(0, 1),
    min_running_secs: fc.nat(600),
    queue_min: fc.option(fc.nat(10), { nil: null }),
    revision: fc.option(fc.constantFrom('r1', 'r2'), { nil: null }),
    hooks: fc.constantFrom('{}', '{"ready":"/bin/true"}'),
  },
  { requiredKeys: [] },
);
/** Some of the columns an instance's update sets (a scale's assignment, an action's). */
const instanceColumns = fc.record(
  {
    desired_status: fc.constantFrom('running', 'warm', 'sleeping', 'destroyed'),
    pressure_slept_at: fc.option(fc.constantFrom(T1), { nil: null }),
    idle_slot: fc.option(fc.constantFrom('warm', 'sleeping'), { nil: null }),
    sleep_forced: fc.constantFrom(0, 1),
    node_id: fc.option(fc.constantFrom('n1', 'n2'), { nil: null }),
    last_request_id: fc.constantFrom('req-1', 'req-2'),
  },
  { requiredKeys: [] },
);
const scopes = fc.array(fc.constantFrom('node:n1', 'node:n2', 'tenant:acme', 'fleet', 'node:n3'), {
  minLength: 1,
  maxLength: 5,
});
const audit = fc.record({
  tenantId: fc.option(fc.constantFrom('acme', 'beta'), { nil: null }),
  at: fc.constantFrom(T1, T2),
  actor: fc.constantFrom('admin', 'system:scheduler'),
  action: fc.constantFrom('pool.scale', 'pool.update'),
  target: fc.constantFrom('acme/workers', 'beta/workers'),
  detail: fc.dictionary(fc.constantFrom('from', 'to', 'created'), fc.nat(9)),
});

let opened: Kysely<Database> | undefined;
afterEach(async () => {
  await opened?.destroy();
  opened = undefined;
});

await describeEachDatabase('scale statements compiled once', ({ name, store, url }) => {
  const statements = new CompiledStatements();
  beforeEach(async () => {
    await insertTwoTenants(store());
    for (const [id, host] of [
      ['w-2', 12],
      ['w-1', 11],
    ] as const) {
      await store().instances.insert(instance(id, host, { nodeId: 'n1', status: 'running' }));
    }
    await store().generations.markChanged(['node:n1']);
  });

  function db(): Kysely<Database> {
    opened ??= openDatabase(url()).db;
    return opened;
  }

  it("the tenant's lock and its pools (with the scaled pool's members on Postgres)", async () => {
    await fc.assert(
      fc.asyncProperty(tenants, pools, async (tenantId, poolId) => {
        await expectSame(db(), statements, tenantLockStatement, { id: tenantId });
        await expectSame(db(), statements, poolsOfTenantStatement, { tenantId });
        if (name === 'postgres')
          await expectSame(db(), statements, withMembersStatement, { tenantId, poolId });
      }),
      { numRuns: RUNS },
    );
    await expectSame(db(), statements, schedulerWorkStatement, {});
    await store().instances.insert(instance('w-9', 19, { nodeId: null }));
    await expectSame(db(), statements, schedulerWorkStatement, {});
  });

  it("an instance's compare-and-set update, whatever columns it sets, matching its version or not", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('w-1', 'w-2', 'w-7'),
        instanceColumns,
        fc.constantFrom(1, 2),
        async (instanceId, columns, expectedVersion) => {
          const key = { tenantId: 'acme', poolId: 'workers', instanceId };
          await expectSame(
            db(),
            statements,
            updateStatement,
            updateParams(key, columns, expectedVersion, T2),
          );
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it("a pool's compare-and-set update, whatever columns it sets, matching its version or not", async () => {
    await fc.assert(
      fc.asyncProperty(
        tenants,
        pools,
        poolColumns,
        fc.constantFrom(1, 2),
        async (tenantId, id, columns, expectedVersion) => {
          const params = poolUpdateParams({ tenantId, id, expectedVersion, at: T2 }, columns);
          await expectSame(db(), statements, poolUpdateStatement, params);
        },
      ),
      { numRuns: RUNS * 2 },
    );
    // Shapes differ by the columns set: a second patch of other columns is not the first's SQL.
    expect(statements.compiledShapes(poolUpdateStatement)).toBeGreaterThan(1);
  });

  it("Postgres: a pool's and its members' compare-and-sets in one statement, for any members and versions", async () => {
    if (name !== 'postgres') return;
    const member = fc.record({
      id: fc.constantFrom('w-1', 'w-2', 'w-7'),
      version: fc.constantFrom(1, 2),
      desiredStatus: fc.constantFrom('running', 'warm', 'sleeping', 'destroyed' as const),
      idleSlot: fc.option(fc.constantFrom('running', 'warm' as const), { nil: undefined }),
    });
    const members = fc.uniqueArray(member, { selector: (m) => m.id, maxLength: 3 });
    await fc.assert(
      fc.asyncProperty(
        tenants,
        pools,
        poolColumns,
        fc.constantFrom(1, 2),
        members,
        fc.option(fc.constantFrom('req-1'), { nil: undefined }),
        fc.option(fc.constantFrom('scheduler'), { nil: undefined }),
        async (tenantId, id, columns, expectedVersion, written, requestId, tryLock) => {
          const list = written.map(({ idleSlot, ...m }) =>
            idleSlot === undefined ? m : { ...m, idleSlot },
          );
          const pool = {
            tenantId,
            id,
            patch: {},
            expectedVersion,
            ...(tryLock === undefined ? {} : { tryLock }),
          };
          const params = withRequestId(requestId, () => scaleWriteParams(pool, columns, list, T2));
          await expectSame(db(), statements, scaleWriteStatement, params);
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it('the marks, alone or with the audit event and the probe (their Postgres statements), for any scopes', async () => {
    await fc.assert(
      fc.asyncProperty(scopes, audit, async (moved, event) => {
        const sorted = [...new Set(moved)].sort();
        await expectSame(db(), statements, marksStatement, marksParams(sorted));
        if (name === 'postgres') {
          await expectSame(
            db(),
            statements,
            marksWithAuditStatement,
            marksParams(sorted, auditRow(event)),
          );
          await expectSame(db(), statements, marksProbeStatement, marksParams(sorted));
          await expectSame(
            db(),
            statements,
            marksWithAuditProbeStatement,
            marksParams(sorted, auditRow(event)),
          );
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a bump of many scopes is built afresh: the compiled marks stay few', async () => {
    const many = Array.from({ length: 30 }, (_, k) => `node:m${k}`);
    const shapes = statements.compiledShapes(marksStatement);
    for (let n = 1; n <= many.length; n += 1) await bumpMarks(db(), statements, many.slice(0, n));
    const marks = await db().selectFrom('document_marks').select(['scope', 'seq']).execute();
    const seqs = new Map(marks.map((m) => [m.scope, Number(m.seq)]));
    // Scope k is in the bumps of k+1 scopes and more: 30 - k bumps.
    for (let k = 0; k < many.length; k += 1) expect(seqs.get(`node:m${k}`)).toBe(30 - k);
    // At most one compiled query per number of scopes up to 8 (this dialect's), none above.
    expect(statements.compiledShapes(marksStatement) - shapes).toBeLessThanOrEqual(8);
  });
});

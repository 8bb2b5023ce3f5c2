import fc from 'fast-check';
import {
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  sql,
} from 'kysely';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DiskReport, InstanceSample } from '../../src/contract/node-report.ts';
import {
  CompiledStatements,
  compiledStatement,
  type CompiledStatement,
} from '../../src/db/compiled-statement.ts';
import { openDatabase } from '../../src/db/open-store.ts';
import {
  beatParams,
  beatStatement,
  deltaBeatStatement,
  generationStatement,
  mergeParams,
  mergeStatement,
  putStatement,
  wholeBeatStatement,
} from '../../src/db/repos/heartbeat-statements.ts';
import { reportRow } from '../../src/db/repos/node-report-repo.ts';
import type { Database } from '../../src/db/schema.ts';
import type { NodeBeat, NodeReportDelta } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { expectSameAsBuilt, type Observe } from './compiled-equal.ts';
import { T1, T2, node } from './fixtures.ts';

const RUNS = 25;

/** The tables a heartbeat's statements may write. */
const heartbeatTables: Observe = {
  tables: async (trx) => {
    const nodes = await trx.selectFrom('nodes').selectAll().orderBy('id').execute();
    const reports = await trx.selectFrom('node_reports').selectAll().orderBy('node_id').execute();
    // JSON text compared as values: Postgres' jsonb and SQLite's json_patch order keys apart.
    const parsed = reports.map((r) => ({ ...r, instances: JSON.parse(r.instances) as unknown }));
    return { nodes, reports: parsed };
  },
};

function expectSame<P extends object, R>(
  db: Kysely<Database>,
  statements: CompiledStatements,
  statement: CompiledStatement<Database, P, R>,
  params: P,
): Promise<void> {
  return expectSameAsBuilt(db, statements, statement, params, heartbeatTables);
}

const nodeIds = fc.constantFrom('node-a', 'node-b', 'node-gone');
const iso = fc
  .integer({ min: 0, max: 10 ** 9 })
  .map((s) => new Date(Date.UTC(2025, 0, 1) + s * 1000).toISOString());
const sample: fc.Arbitrary<InstanceSample> = fc.record(
  {
    tenant: fc.constantFrom('acme', 'globex'),
    pool: fc.constantFrom('web', 'jobs'),
    instance: fc.constantFrom('i1', 'i2', 'i3', 'i4'),
    cpuPermille: fc.integer({ min: 0, max: 2000 }),
    rssKib: fc.integer({ min: 0, max: 10 ** 7 }),
    status: fc.constantFrom('running', 'sleeping', 'failed'),
  },
  { requiredKeys: ['tenant', 'pool', 'instance'] },
);
const disk: fc.Arbitrary<DiskReport> = fc
  .record({ freeKib: fc.nat(10 ** 9), orphans: fc.nat(100) })
  .map(({ freeKib, orphans }) => {
    const space = { count: orphans, kib: orphans * 4 };
    return {
      dataDir: { path: '/var/lib/mvm', totalKib: 10 ** 9, freeKib },
      cacheDir: { path: '/var/cache/mvm', totalKib: 10 ** 9, freeKib },
      tenants: [],
      artifacts: {
        images: space,
        initDrives: space,
        kernels: space,
        guestAgents: space,
        other: space,
      },
      orphans: space,
    };
  });
const beat: fc.Arbitrary<NodeBeat> = fc.record(
  {
    lastHeartbeat: iso,
    capacity: fc.constantFrom(node().capacity, { vcpus: 8, memMib: 4096, diskGib: 50 }),
    usage: fc.record({
      vcpus: fc.nat(64),
      memMib: fc.nat(65_536),
      instances: fc.dictionary(fc.constantFrom('running', 'sleeping'), fc.nat(100)),
      diskFreeMib: fc.nat(10 ** 6),
    }),
    underlayIp: fc.constantFrom('10.0.0.1', '10.0.0.2'),
  },
  { requiredKeys: ['lastHeartbeat', 'capacity', 'usage'] },
);
const sequence = fc.option(
  fc.record({ epoch: fc.constantFrom('run-1', 'run-2'), seq: fc.integer({ min: 1, max: 6 }) }),
  { nil: undefined },
);
const whole = fc.record({
  nodeId: nodeIds,
  reportedAt: iso,
  disk: fc.option(disk, { nil: null }),
  instances: fc.array(sample, { maxLength: 5 }),
});
const delta: fc.Arbitrary<NodeReportDelta> = fc.record(
  {
    nodeId: nodeIds,
    reportedAt: iso,
    epoch: fc.constantFrom('run-1', 'run-2'),
    base: fc.integer({ min: 2, max: 4 }),
    seq: fc.integer({ min: 3, max: 6 }),
    changed: fc.array(sample, { maxLength: 4 }),
    removed: fc.array(
      fc.record({
        tenant: fc.constant('acme'),
        pool: fc.constant('web'),
        instance: fc.constantFrom('i1', 'i2', 'i9'),
      }),
      { maxLength: 2 },
    ),
    disk,
  },
  { requiredKeys: ['nodeId', 'reportedAt', 'epoch', 'base', 'seq', 'changed', 'removed'] },
);

let opened: Kysely<Database> | undefined;
afterEach(async () => {
  await opened?.destroy();
  opened = undefined;
});

await describeEachDatabase(
  'compiled statements: the same as built afresh',
  ({ name, store, url, reopen }) => {
    async function seeded(): Promise<Kysely<Database>> {
      await store().nodes.upsert(node('node-a', { underlayIp: '10.0.0.1' }));
      await store().nodes.upsert(node('node-b'));
      await store().nodeReports.put(
        {
          nodeId: 'node-a',
          reportedAt: T1,
          disk: null,
          instances: [{ tenant: 'acme', pool: 'web', instance: 'i1' }],
        },
        { epoch: 'run-1', seq: 3 },
      );
      await store().nodeReports.put({
        nodeId: 'node-b',
        reportedAt: T1,
        disk: null,
        instances: [],
      });
      await store().generations.bump('node-a', 'digest-1', T2);
      opened = openDatabase(url()).db;
      return opened;
    }

    it("the node's update, the whole report's upsert, the delta's merge, the generation read", async () => {
      const db = await seeded();
      const statements = new CompiledStatements();
      await fc.assert(
        fc.asyncProperty(nodeIds, beat, (id, fields) =>
          expectSame(db, statements, beatStatement, beatParams(id, fields)),
        ),
        { numRuns: RUNS },
      );
      await fc.assert(
        fc.asyncProperty(whole, sequence, (report, seq) =>
          expectSame(db, statements, putStatement, reportRow(report, seq)),
        ),
        { numRuns: RUNS },
      );
      await fc.assert(
        fc.asyncProperty(delta, (d) => expectSame(db, statements, mergeStatement, mergeParams(d))),
        { numRuns: RUNS },
      );
      await fc.assert(
        fc.asyncProperty(nodeIds, (id) => expectSame(db, statements, generationStatement, { id })),
        { numRuns: 5 },
      );
      // Every shape met: with and without the underlay, the sequence, the disk.
      expect(statements.compiledShapes(beatStatement)).toBeGreaterThanOrEqual(
        name === 'postgres' ? 2 : 1,
      );
    });

    it('compiled once per store: its transactions share them, another store compiles its own', async () => {
      await store().nodes.upsert(node('node-a'));
      const fields: NodeBeat = {
        lastHeartbeat: T2,
        capacity: node().capacity,
        usage: { vcpus: 1, memMib: 256, instances: {}, diskFreeMib: 1000 },
      };
      const compile = vi.spyOn(beatStatement, 'compile');
      try {
        expect(await store().nodes.beat('node-a', fields)).toBeDefined();
        await store().transaction((repos) => repos.nodes.beat('node-a', fields));
        await store().batch((repos) => repos.nodes.beat('node-a', fields));
        expect(compile).toHaveBeenCalledTimes(1);
        const other = await reopen();
        expect(await other.nodes.beat('node-a', fields)).toBeDefined();
        await other.transaction((repos) => repos.nodes.beat('node-a', fields));
        expect(compile).toHaveBeenCalledTimes(2);
      } finally {
        compile.mockRestore();
      }
    });

    it.runIf(name === 'postgres')('the one-statement heartbeat, whole and delta', async () => {
      const db = await seeded();
      const statements = new CompiledStatements();
      await fc.assert(
        fc.asyncProperty(nodeIds, beat, whole, sequence, (id, fields, report, seq) =>
          expectSame(db, statements, wholeBeatStatement, {
            ...beatParams(id, fields),
            ...reportRow(report, seq),
          }),
        ),
        { numRuns: RUNS },
      );
      await fc.assert(
        fc.asyncProperty(nodeIds, beat, delta, (id, fields, d) =>
          expectSame(db, statements, deltaBeatStatement, {
            ...beatParams(id, fields),
            ...mergeParams(d),
          }),
        ),
        { numRuns: RUNS },
      );
    });
  },
);

describe('compiledStatement refuses a value baked into the SQL', () => {
  // Compiling needs no database: Kysely's cold dialect parts.
  const db = () =>
    new Kysely<Database>({
      dialect: {
        createAdapter: () => new SqliteAdapter(),
        createDriver: () => new DummyDriver(),
        createIntrospector: (k) => new SqliteIntrospector(k),
        createQueryCompiler: () => new SqliteQueryCompiler(),
      },
    });

  it('a parameter read in JS while building', () => {
    const stringified = compiledStatement({
      shape: () => ({}),
      build: (k: Kysely<Database>, _: object, p: { id: string }) =>
        k.selectFrom('nodes').selectAll().where('id', '=', `node-${p.id}`),
    });
    expect(() => new CompiledStatements().bound(db(), stringified, { id: 'a' })).toThrow(
      /'id' is a parameter/,
    );
  });

  it('parameters enumerated (spread) while building', () => {
    const spread = compiledStatement({
      shape: () => ({}),
      build: (k: Kysely<Database>, _: object, p: { id: string; hostname: string }) =>
        k.updateTable('nodes').set({ ...p }),
    });
    expect(() => new CompiledStatements().bound(db(), spread, { id: 'a', hostname: 'b' })).toThrow(
      /enumerated/,
    );
  });

  it('a parameter read but not bound, and a bound one given no value', () => {
    const dropped = compiledStatement({
      shape: () => ({}),
      build: (k: Kysely<Database>, _: object, p: { id: string; unused: string }) => {
        void p.unused;
        return k.selectFrom('nodes').selectAll().where('id', '=', p.id);
      },
    });
    expect(() => new CompiledStatements().bound(db(), dropped, { id: 'a', unused: 'b' })).toThrow(
      /unused read but not bound/,
    );
    const plain = compiledStatement({
      shape: () => ({}),
      build: (k: Kysely<Database>, _: object, p: { id?: string }) =>
        k
          .selectFrom('nodes')
          .selectAll()
          .where(sql.ref('id'), '=', p.id ?? null),
    });
    expect(() => new CompiledStatements().bound(db(), plain, {})).toThrow(/no value for 'id'/);
  });
});

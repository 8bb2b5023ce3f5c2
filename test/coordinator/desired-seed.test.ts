import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTextFile } from '../../src/cli/config.ts';
import { parseDocument, seedDocumentSchema, type NodeDesired } from '../../src/contract/desired.ts';
import { seedToDesired, type ExistingInstance } from '../../src/core/desired-doc.ts';
import { ValidationError } from '../../src/core/errors.ts';
import { startInProcessCoordinator } from '../cli/support/in-process-coordinator.ts';
import type { InProcessCoordinator } from '../cli/support/in-process-coordinator.ts';
import { runIn } from '../cli/support/run-cli.ts';

let coordinator: InProcessCoordinator;
let dir: string;

beforeAll(async () => {
  coordinator = await startInProcessCoordinator();
  dir = await mkdtemp(join(tmpdir(), 'mvm-seed-'));
});
afterAll(async () => {
  await coordinator.close();
  await rm(dir, { recursive: true, force: true });
});

async function mvm(line: string): Promise<string> {
  const run = await runIn(line.split(' ').slice(1), {
    env: { MVM_DATA_DIR: coordinator.dataDir },
    readText: readTextFile,
    defaultConfigFile: join(coordinator.dataDir, 'no-config.json'),
    fetch: coordinator.fetch,
  });
  expect(run.stderr, line).toBe('');
  expect(run.code, line).toBe(0);
  return run.stdout;
}

/** What an agent would record after acting on a document: every instance as it asked. */
function held(doc: NodeDesired): ExistingInstance[] {
  return doc.tenants.flatMap((t) =>
    t.pools.flatMap((p) =>
      p.instances.map((i) => ({
        tenantId: t.id,
        poolId: p.id,
        ...i,
        status: i.desiredStatus === 'destroyed' ? 'destroyed' : i.desiredStatus,
      })),
    ),
  );
}

describe('mvm agent desired and the seed format', () => {
  it('writes a seed document that materializes through the shared materializer', async () => {
    await mvm('mvm tenant create smoke-test --net-id 99 --subnet 10.240.99.0/24');
    await mvm('mvm pool create smoke-test/workers --flake . --profile minimal --cpus 2 --mem 1024');
    await mvm('mvm pool scale smoke-test/workers --running 2');
    const file = join(dir, 'desired.json');
    expect(await mvm(`mvm agent desired --file ${file}`)).toMatch(
      /wrote .*1 tenant\(s\), 1 pool\(s\)/,
    );
    const seed = parseDocument(
      seedDocumentSchema,
      JSON.parse(await readFile(file, 'utf8')),
      'seed',
    );
    expect(seed).toEqual({
      schemaVersion: 1,
      tenants: [
        {
          tenantId: 'smoke-test',
          network: { netId: 99, subnet: '10.240.99.0/24', gateway: '10.240.99.1' },
          pools: [
            {
              poolId: 'workers',
              role: 'worker',
              flake: `path:${process.cwd()}`,
              profile: 'minimal',
              vcpus: 2,
              memMib: 1024,
              dataDiskMib: 1024,
              desiredCounts: { running: 2, warm: 0, sleeping: 0 },
            },
          ],
        },
      ],
    });
    let n = 0;
    const stamp = {
      nodeId: 'local',
      generation: 1,
      issuedAt: 'now',
      randomSuffix: () => `x${(n += 1)}`,
    };
    const first = seedToDesired(seed, [], stamp);
    const instances = first.document.tenants[0]?.pools[0]?.instances;
    expect(instances).toEqual([
      { id: 'workers-x1', ip: '10.240.99.3', mac: '02:6d:76:00:63:03', desiredStatus: 'running' },
      { id: 'workers-x2', ip: '10.240.99.4', mac: '02:6d:76:00:63:04', desiredStatus: 'running' },
    ]);
    // Applied again over what it produced: nothing new, nothing changed (idempotent).
    expect(seedToDesired(seed, held(first.document), stamp).document).toEqual(first.document);
    // Scaled down in the seed: the same rule as the coordinator (stop, keep identity).
    const smaller = structuredClone(seed);
    const pool = smaller.tenants[0]?.pools[0];
    if (pool) pool.desiredCounts = { running: 1, warm: 1, sleeping: 0 };
    const down = seedToDesired(smaller, held(first.document), stamp).document;
    expect(down.tenants[0]?.pools[0]?.instances.map((i) => i.desiredStatus)).toEqual([
      'running',
      'warm',
    ]);
    // A pool the seed no longer names is to be torn down.
    const gone = seedToDesired({ schemaVersion: 1, tenants: [] }, held(first.document), stamp);
    expect(gone.document.tenants).toEqual([]);
    expect(gone.removed.map((i) => i.id)).toEqual(['workers-x1', 'workers-x2']);
  });

  it('limits the seed to one node with --node', async () => {
    const out = JSON.parse(await mvm('mvm agent desired --node nowhere --json')) as unknown;
    expect(out).toEqual({ schemaVersion: 1, tenants: [] });
  });

  it('reports every problem of a bad seed at once', () => {
    const bad = {
      schemaVersion: 2,
      tenants: [
        {
          tenantId: 'Bad_Id',
          network: { netId: 1, subnet: 'x', gateway: '10.0.0.1' },
          pools: [],
          extra: 1,
        },
      ],
    };
    let error: unknown;
    try {
      parseDocument(seedDocumentSchema, bad, 'seed');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const problems = (error as ValidationError).problems.join('\n');
    expect(problems).toMatch(/schemaVersion/);
    expect(problems).toMatch(/tenants\.0\.tenantId/);
    expect(problems).toMatch(/tenants\.0\.network\.subnet/);
    expect(problems).toMatch(/unknown field\(s\) extra/);
  });
});

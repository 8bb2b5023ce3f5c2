import { describe, expect, it } from 'vitest';
import type {
  InstanceView,
  PoolDetailView,
  TenantDetailView,
} from '../../src/contract/resources.ts';
import { cliForSuite } from './support/cli-lines.ts';

/**
 * The smoke test's granular flow, word for word, against a real coordinator app on SQLite.
 * The CLI finds the admin token in the data dir, as an operator on the coordinator host would.
 */
const { mvm, ok, json } = cliForSuite();

/** Everything the coordinator holds, to prove a refused command changed nothing. */
async function snapshot(): Promise<unknown> {
  return {
    tenants: await json('mvm tenant list --json'),
    pools: await json('mvm pool list smoke-test --json'),
    instances: await json('mvm instance list --json'),
  };
}

describe('smoke-test flow (docs: tenant and pool lifecycle)', () => {
  it('creates, inspects, scales and destroys exactly as the smoke test says', async () => {
    const created = await ok(
      'mvm tenant create smoke-test --net-id 99 --subnet 10.240.99.0/24 --max-vcpus 8 --max-mem 8192 --max-running 4',
    );
    expect(created).toContain("created tenant 'smoke-test'");
    expect(created).toMatch(/bridge:\s+br-tenant-99/);

    const list = await ok('mvm tenant list');
    expect(list.split('\n')[0]).toMatch(/^TENANT\s+NET\s+SUBNET/);
    expect(list).toMatch(
      /^smoke-test\s+99\s+10\.240\.99\.0\/24\s+10\.240\.99\.1\s+br-tenant-99\s+8\s+8192\s+4$/m,
    );

    const tenant = await json<TenantDetailView>('mvm tenant info smoke-test --json');
    expect(tenant).toMatchObject({
      id: 'smoke-test',
      netId: 99,
      subnet: '10.240.99.0/24',
      bridge: 'br-tenant-99',
    });
    expect(tenant.quotas).toMatchObject({ maxVcpus: 8, maxMemMib: 8192, maxRunning: 4 });

    expect(
      await ok(
        'mvm pool create smoke-test/gateways --flake . --profile minimal --cpus 2 --mem 1024 --role gateway',
      ),
    ).toMatch(/role:\s+gateway/);
    expect(
      await ok(
        'mvm pool create smoke-test/workers --flake . --profile minimal --cpus 2 --mem 1024',
      ),
    ).toMatch(/role:\s+worker/);
    expect(
      await ok('mvm pool scale smoke-test/workers --running 2 --warm 1 --sleeping 1'),
    ).toContain(
      "pool 'smoke-test/workers' now wants running 2, warm 1, sleeping 1 (4 instance(s) created",
    );

    const pool = await json<PoolDetailView>('mvm pool info smoke-test/workers --json');
    expect(pool).toMatchObject({
      tenantId: 'smoke-test',
      id: 'workers',
      role: 'worker',
      // The CLI stores a local flake path as an absolute one.
      flake: `path:${process.cwd()}`,
      profile: 'minimal',
    });
    expect(pool).toMatchObject({
      vcpus: 2,
      memMib: 1024,
      counts: { running: 2, warm: 1, sleeping: 1 },
      instances: 4,
    });

    const instances = await json<InstanceView[]>('mvm instance list --tenant smoke-test --json');
    expect(instances).toHaveLength(4);
    expect(instances.map((i) => i.desiredStatus).sort()).toEqual([
      'running',
      'running',
      'sleeping',
      'warm',
    ]);
    for (const instance of instances) {
      expect(instance).toMatchObject({ tenantId: 'smoke-test', poolId: 'workers' });
      expect(instance.ip).toMatch(/^10\.240\.99\.\d+$/);
    }
    expect(new Set(instances.map((i) => i.ip)).size).toBe(4);
  });

  it('refuses bad input with the right exit code and changes nothing', async () => {
    const before = await snapshot();
    const refused: Array<[string, number, string]> = [
      ['mvm tenant create Smoke_Test', 2, "tenant id 'Smoke_Test' is invalid"],
      ['mvm tenant create other --net-id 5 --subnet 192.168.5.0/24', 2, '192.168.5.0/24'],
      [
        'mvm tenant create other --net-id 99',
        5,
        "net id 99 (10.240.99.0/24) is already used by tenant 'smoke-test'",
      ],
      ['mvm tenant create smoke-test', 5, "tenant 'smoke-test' already exists"],
      ['mvm pool scale smoke-test/workers --running 5', 6, "tenant 'smoke-test' quota exceeded"],
      ['mvm pool scale smoke-test/gateways --running 3', 6, 'quota exceeded'],
      ['mvm pool update smoke-test/workers --role gateway', 2, 'role is fixed at pool creation'],
      [
        'mvm pool create smoke-test/big --flake . --profile minimal --cpus 2x --mem 1024',
        2,
        "--cpus '2x'",
      ],
      ['mvm pool info smoke-test/nope', 4, "pool 'smoke-test/nope' not found"],
      ['mvm tenant info smoke-test --token wrong-token', 3, 'API token not recognised'],
      ['mvm pool destroy smoke-test/workers', 5, 'still has 4 instance(s)'],
    ];
    for (const [line, code, message] of refused) {
      const run = await mvm(line);
      expect({ line, code: run.code }).toEqual({ line, code });
      expect(run.stderr, line).toMatch(/^error: /);
      expect(run.stderr, line).toContain(message);
      expect(run.stdout, line).toBe('');
    }
    expect(await snapshot()).toEqual(before);
  });

  it('drives an instance through its verbs and reports refusals as illegal transitions', async () => {
    const [first] = await json<InstanceView[]>(
      'mvm instance list --tenant smoke-test --pool workers --json',
    );
    if (first === undefined) throw new Error('the flow created no instances');
    const path = `smoke-test/workers/${first.id}`;
    const info = await json<InstanceView>(`mvm instance info ${path} --json`);
    expect(info.id).toBe(first.id);
    expect(await ok(`mvm instance stop ${path}`)).toContain(
      `asked instance '${path}' to stop: desired stopped`,
    );
    expect(await ok(`mvm instance info ${path}`)).toMatch(/desired:\s+stopped/);
    for (const verb of ['warm', 'sleep', 'wake']) {
      const run = await mvm(`mvm instance ${verb} ${path}`);
      expect({ verb, code: run.code }).toEqual({ verb, code: 5 });
      expect(run.stderr).toMatch(new RegExp(`^error: instance ${path}: cannot go from 'stopped'`));
    }
    expect(await ok(`mvm instance start ${path}`)).toContain('desired running');
    expect(await ok(`mvm instance destroy ${path}`)).toContain('desired destroyed');
    const remaining = await json<InstanceView[]>('mvm instance list --tenant smoke-test --json');
    expect(remaining.map((i) => i.id)).not.toContain(first.id);
  });

  it('issues a tenant token that sees only its tenant and cannot act as admin', async () => {
    const issued = await json<{ token: string; tenantId: string }>(
      'mvm tenant token create smoke-test --name ci --json',
    );
    expect(issued.tenantId).toBe('smoke-test');
    const tenants = await json<Array<{ id: string }>>(
      `mvm tenant list --json --token ${issued.token}`,
    );
    expect(tenants.map((t) => t.id)).toEqual(['smoke-test']);
    const denied = await mvm(`mvm tenant create intruder --token ${issued.token}`);
    expect(denied.code).toBe(3);
    expect(denied.stderr).toContain('needs an admin token');
  });

  it('lists events and nodes, and tears the tenant down with --force', async () => {
    expect(await ok('mvm events smoke-test --last 3')).toMatch(/^AT\s+TENANT\s+ACTOR\s+ACTION/);
    expect(await json<unknown[]>('mvm events smoke-test --last 3 --json')).toHaveLength(3);
    expect(await ok('mvm node list')).toContain('no nodes have joined');
    expect(await ok('mvm tenant destroy smoke-test --force')).toBe(
      "destroyed tenant 'smoke-test' with 2 pools and 3 instances\n",
    );
    expect(await ok('mvm tenant list')).toBe(
      "no tenants; create one with 'mvm tenant create <id>'\n",
    );
    expect(await json<unknown[]>('mvm instance list --json')).toEqual([]);
  });
});

import { join } from 'node:path';
import { expect, it } from 'vitest';
import { readTextFile } from '../../src/cli/config.ts';
import type { NewOpenclawResult } from '../../src/cli/onboarding/new-openclaw.ts';
import type { ConnectView } from '../../src/cli/views/connect-views.ts';
import type {
  InstanceView,
  PoolDetailView,
  TenantDetailView,
} from '../../src/contract/resources.ts';
import { describeEachCoordinator } from './support/in-process-coordinator.ts';
import { runIn, type CliRun } from './support/run-cli.ts';

/**
 * Seed 002 §3–4 against a real coordinator on SQLite and Postgres: `mvm new openclaw` makes
 * the tenant, both pools and their instances; `mvm connect` shows them; a re-run changes
 * nothing; conflicts and a failure mid-way say what was done and how to finish or undo it.
 */
await describeEachCoordinator('mvm new openclaw and mvm connect', (coordinator) => {
  const mvm = (line: string): Promise<CliRun> =>
    runIn(line.split(' '), {
      env: { MVM_DATA_DIR: coordinator().dataDir },
      readText: readTextFile,
      defaultConfigFile: join(coordinator().dataDir, 'no-config.json'),
      fetch: coordinator().fetch,
    });
  const json = async <T>(line: string): Promise<T> => {
    const run = await mvm(line);
    expect(run.code, `${line}: ${run.stderr}`).toBe(0);
    return JSON.parse(run.stdout) as T;
  };

  it('creates the deployment, shows it with connect, and changes nothing when run again', async () => {
    const run = await mvm('new openclaw smoke-app --dev-image');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    for (const line of [
      /^tenant\s+smoke-app created: net \d+, 10\.\d+\.\d+\.0\/24, bridge br-tenant-\d+$/m,
      /^pool\s+gateways created \(gateway, 2 vCPU, 2048 MiB, 1024 MiB data disk\)$/m,
      /^pool\s+workers created \(worker, 2 vCPU, 1024 MiB, 2048 MiB data disk\)$/m,
      /^image\s+both pools boot the dev image$/m,
      /^scale\s+gateways: 1 running, 0 warm, 0 sleeping \(1 instance\(s\) created\)$/m,
      /^scale\s+workers: 2 running, 1 warm, 0 sleeping \(3 instance\(s\) created\)$/m,
      /^next: mvm connect smoke-app$/m,
    ]) {
      expect(run.stdout).toMatch(line);
    }

    const tenant = await json<TenantDetailView>('tenant info smoke-app --json');
    expect(tenant.quotas).toMatchObject({ maxVcpus: 64, maxMemMib: 65536, maxRunning: 32 });
    const gateways = await json<PoolDetailView>('pool info smoke-app/gateways --json');
    expect(gateways).toMatchObject({
      role: 'gateway',
      critical: true,
      vcpus: 2,
      memMib: 2048,
      image: null,
      flake: null,
      profile: null,
      counts: { running: 1, warm: 0, sleeping: 0 },
    });
    const workers = await json<PoolDetailView>('pool info smoke-app/workers --json');
    expect(workers).toMatchObject({
      role: 'worker',
      vcpus: 2,
      memMib: 1024,
      dataDiskMib: 2048,
      counts: { running: 2, warm: 1, sleeping: 0 },
    });
    const instances = await json<InstanceView[]>('instance list --tenant smoke-app --json');
    expect(instances.map((i) => `${i.poolId}:${i.desiredStatus}`).sort()).toEqual([
      'gateways:running',
      'workers:running',
      'workers:running',
      'workers:warm',
    ]);

    const view = await json<ConnectView>('connect smoke-app --json');
    expect(view.network).toEqual({
      netId: tenant.netId,
      subnet: tenant.subnet,
      gateway: tenant.gateway,
      bridge: `br-tenant-${tenant.netId}`,
      egress: 'off',
    });
    expect(view.pools).toEqual([
      expect.objectContaining({
        id: 'gateways',
        role: 'gateway',
        desired: { running: 1, warm: 0, sleeping: 0 },
        observed: { created: 1 },
        instances: 1,
      }),
      expect.objectContaining({
        id: 'workers',
        role: 'worker',
        dataDiskMib: 2048,
        desired: { running: 2, warm: 1, sleeping: 0 },
        observed: { created: 3 },
        instances: 3,
      }),
    ]);
    expect(view.instances.map((i) => [i.path, i.ip, i.status]).sort()).toEqual(
      instances.map((i) => [`smoke-app/${i.poolId}/${i.id}`, i.ip, 'created']).sort(),
    );
    const worker = instances.find((i) => i.poolId === 'workers')?.id ?? '';
    const commands = view.commands.map((c) => c.command);
    expect(commands).toContain('mvm secrets set smoke-app KEY=VALUE');
    expect(commands).toContain('mvm pool scale smoke-app/workers --running <n> --warm <n>');
    expect(commands).toContain(`mvm instance exec smoke-app/workers/${worker} -- uname -a`);

    const human = (await mvm('connect smoke-app')).stdout;
    expect(human).toMatch(
      new RegExp(`^gateway ip:\\s+${tenant.gateway.replaceAll('.', '\\.')}$`, 'm'),
    );
    expect(human).toMatch(/^bridge:\s+br-tenant-\d+ \(net \d+\)$/m);
    expect(human).toMatch(
      /^workers\s+worker\s+2\s+1024\s+2048\s+2 running, 1 warm, 0 sleeping\s+3 created$/m,
    );
    expect(human).toContain('mvm secrets set smoke-app KEY=VALUE');
    expect(view.dashboard).toMatch(/^https?:\/\/[^/]+\/ui$/);
    expect(human).toContain(`dashboard:`);
    expect(human).toContain(`${view.dashboard} (log in with your API token)`);

    const again = await mvm('new openclaw smoke-app --dev-image --json');
    expect(again.code).toBe(0);
    const result = JSON.parse(again.stdout) as NewOpenclawResult;
    expect(result.tenant.status).toBe('exists');
    expect(result.pools.map((p) => [p.id, p.status])).toEqual([
      ['gateways', 'exists'],
      ['workers', 'exists'],
    ]);
    expect(result.instances.map((i) => i.id).sort()).toEqual(instances.map((i) => i.id).sort());
    expect(result.next).toBe('mvm connect smoke-app');

    // A gateway pool carrying openclaw.json: connect names its Control UI and how to log in.
    expect(view.openclaw).toBeUndefined();
    expect((await mvm('pool config set smoke-app/gateways openclaw.json={}')).code).toBe(0);
    const withClaw = await json<ConnectView>('connect smoke-app --json');
    const gatewayIp = instances.find((i) => i.poolId === 'gateways')?.ip;
    // The published port first (on the node running the gateway; none placed here), then the
    // gateway's tenant address.
    expect(withClaw.openclaw).toMatchObject({
      pool: 'gateways',
      urls: [
        'http://127.0.0.1:18789/ on node (none yet) (published)',
        `http://${gatewayIp}:18789/`,
      ],
    });
    expect(withClaw.published).toEqual([
      {
        pool: 'gateways',
        hostPort: 18789,
        guestPort: 18789,
        nodes: [],
        url: 'http://127.0.0.1:18789/',
      },
    ]);
    expect(withClaw.openclaw?.login).toContain('OPENCLAW_GATEWAY_TOKEN');
    expect((await mvm('connect smoke-app')).stdout).toMatch(
      new RegExp(
        `^control ui:\\s+http://127\\.0\\.0\\.1:18789/ .*, http://${gatewayIp?.replaceAll('.', '\\.')}:18789/$`,
        'm',
      ),
    );
  });

  it('takes the network, the image source and sizes from flags', async () => {
    await json(
      'new openclaw net-app --net-id 99 --subnet 10.240.99.0/24 --flake github:myorg/myflake --json',
    );
    const view = await json<ConnectView>('connect net-app --json');
    expect(view.network).toMatchObject({
      netId: 99,
      subnet: '10.240.99.0/24',
      gateway: '10.240.99.1',
      bridge: 'br-tenant-99',
    });
    const pool = await json<PoolDetailView>('pool info net-app/workers --json');
    expect([pool.flake, pool.profile]).toEqual(['github:myorg/myflake', 'worker']);

    const clash = await mvm('new openclaw net-app --net-id 98 --dev-image');
    expect(clash.code).toBe(5);
    expect(clash.stderr).toContain("tenant 'net-app' already exists with net id 99, not 98");

    const small = await json<NewOpenclawResult>(
      'new openclaw img-app --image docker://registry.example/openclaw:1 --cpus 1 --mem 256 --data-disk 64 --workers 1 --warm-workers 0 --json',
    );
    expect(
      small.pools.map((p) => [p.id, p.image, p.flake, p.vcpus, p.memMib, p.dataDiskMib]),
    ).toEqual([
      ['gateways', 'docker://registry.example/openclaw:1', null, 1, 256, 1024],
      ['workers', 'docker://registry.example/openclaw:1', null, 1, 256, 64],
    ]);
    expect(small.instances).toHaveLength(2);
    // net-app holds 18789: the second deployment's gateway gets the next free host port.
    const gateways = await json<PoolDetailView>('pool info img-app/gateways --json');
    expect(gateways.publish).toEqual([{ hostPort: 18790, guestPort: 18789 }]);
    expect(small.image.note).toContain('dev image');

    const both = await mvm('new openclaw x --flake . --image y');
    expect(both.code).toBe(2);
    expect(both.stderr).toContain(
      'pass one image source: --flake, --image or the OpenClaw profiles',
    );
    // A bad provider is refused before any image is built or anything is created.
    const provider = await mvm('new openclaw badprov --provider-url ftp://llm.example/v1');
    expect(provider.code).toBe(2);
    expect(provider.stderr).toContain("--provider-url 'ftp://llm.example/v1' is not http(s)");
    expect((await mvm('tenant info badprov')).code).toBe(4);
    expect((await mvm('connect nobody')).code).toBe(4);
  });

  it('stops mid-way with what was done and how to finish or remove it', async () => {
    expect((await mvm('tenant create tight --max-running 2')).code).toBe(0);
    const run = await mvm('new openclaw tight --dev-image');
    expect(run.code).toBe(6);
    expect(run.stderr).toContain("new openclaw 'tight' stopped at scaling 'tight/workers'");
    expect(run.stderr).toContain(
      "done so far: pool 'tight/gateways' created, pool 'tight/workers' created, 'tight/gateways' scaled",
    );
    expect(run.stderr).toContain(
      "run 'mvm new openclaw tight' again with the same flags to finish",
    );
    expect(run.stderr).toContain("or remove it with 'mvm tenant destroy tight --force'");
    // The state is what the message says: both pools, the gateway scaled, no workers.
    const instances = await json<InstanceView[]>('instance list --tenant tight --json');
    expect(instances.map((i) => i.poolId)).toEqual(['gateways']);

    // After raising the quota the same command finishes the deployment.
    expect((await mvm('tenant update tight --max-running 8')).code).toBe(0);
    const finished = await json<NewOpenclawResult>('new openclaw tight --dev-image --json');
    expect(finished.instances).toHaveLength(4);
  });
});

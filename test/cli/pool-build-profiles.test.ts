/**
 * The drive set per role comes from a flake's mvm-profiles.toml: `mvm pool build` on a real
 * coordinator reads it (Nix's fromTOML), builds `#tenant-<role>-<profile>` with a real
 * `nix build` (a self-contained flake: this host has no nixpkgs), and records the role's
 * drives in the revision's manifest (so in its id); an agent following the coordinator
 * fetches that manifest and attaches exactly those drives (checked on the VmSpec; nothing
 * boots: the flake's kernel is a stand-in). A manifest asking secrets for a builder, or one
 * that is not TOML, fails the build with the reason and records no revision.
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { materialize } from '../../src/agent/runtime/vm-spec.ts';
import { readTextFile } from '../../src/cli/config.ts';
import { revisionIdOf, type RevisionView } from '../../src/contract/revisions.ts';
import type { Role } from '../../src/core/model.ts';
import { createApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { agentDataDir, quietLogger, testAgentConfig, workerSpec } from '../agent/agent-harness.ts';
import {
  startInProcessCoordinator,
  type InProcessCoordinator,
} from './support/in-process-coordinator.ts';
import { runIn } from './support/run-cli.ts';

const PROFILES = `[meta]
version = 1

[profiles.minimal]
module = "guests/profiles/minimal.nix"

[roles.gateway]
module = "roles/gateway.nix"
requires_config_drive = true
requires_secrets_drive = true

# Unlike the role's default: this flake's workers take neither secrets nor config.
[roles.worker]
module = "roles/worker.nix"
requires_config_drive = false
requires_secrets_drive = false

[roles.builder]
module = "roles/builder.nix"
requires_config_drive = false
requires_secrets_drive = true
`;

/** A flake with tenant-<role>-minimal for three roles, each a busybox copy of one tree. */
async function writeFlake(dir: string, profiles: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await cp('/bin/busybox', join(dir, 'bin', 'busybox'));
  for (const applet of ['sh', 'mkdir', 'cp']) await symlink('busybox', join(dir, 'bin', applet));
  await mkdir(join(dir, 'tree', 'etc'), { recursive: true });
  await writeFile(join(dir, 'tree', 'etc', 'hello'), 'from the flake\n');
  await writeFile(join(dir, 'vmlinux'), 'not a kernel: this build is never booted\n');
  await writeFile(join(dir, 'mvm-profiles.toml'), profiles);
  const output = (role: string) => `    tenant-${role}-minimal = builtins.derivation {
      name = "tenant-${role}-minimal";
      system = "x86_64-linux";
      builder = "\${./bin}/sh";
      PATH = "\${./bin}";
      args = [ "-c" "mkdir -p $out && cp \${./vmlinux} $out/vmlinux && cp -r \${./tree} $out/rootfs" ];
    };`;
  await writeFile(
    join(dir, 'flake.nix'),
    `{\n  outputs = { self }: {\n${['gateway', 'worker', 'builder'].map(output).join('\n')}\n  };\n}\n`,
  );
}

describe('drive sets from mvm-profiles.toml', () => {
  let work = '';
  let coordinator: InProcessCoordinator;
  let agent: AgentHandle | undefined;
  let dataDir = '';
  const revisions = new Map<string, RevisionView>();

  const mvm = (line: string) =>
    runIn(line.split(' '), {
      env: { MVM_DATA_DIR: coordinator.dataDir },
      readText: readTextFile,
      defaultConfigFile: join(coordinator.dataDir, 'no-config.json'),
      fetch: coordinator.fetch,
    });
  const ok = async (line: string) => {
    const run = await mvm(line);
    expect(run.code, `${line}\n${run.stderr}`).toBe(0);
    return run;
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'mvm-profiles-'));
    await writeFlake(join(work, 'flake'), PROFILES);
    coordinator = await startInProcessCoordinator({ images: true });
    await ok('tenant create acme --net-id 42');
  }, 60_000);

  afterAll(async () => {
    if (agent) {
      await agent.runtime.destroyAll();
      await agent.close();
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await coordinator?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it.each([
    ['gateway', { secrets: true, config: true }],
    ['worker', { secrets: false, config: false }],
  ] as const)(
    'a %s build records the drives mvm-profiles.toml gives it',
    async (role, drives) => {
      await ok(
        `pool create acme/${role} --role ${role} --flake ${work}/flake --profile minimal --cpus 1 --mem 256`,
      );
      const run = await ok(`pool build acme/${role} --json`);
      expect(run.stderr).toContain(`#tenant-${role}-minimal`);
      const yes = (on: boolean) => (on ? 'yes' : 'no');
      expect(run.stderr).toContain(
        `drives for role ${role} (mvm-profiles.toml): secrets ${yes(drives.secrets)}, config ${yes(drives.config)}`,
      );
      const revision = JSON.parse(run.stdout) as RevisionView;
      expect(revision.manifest.drives).toEqual(drives);
      expect(revision.id).toBe(revisionIdOf(revision.manifest));
      revisions.set(role, revision);
    },
    300_000,
  );

  it('refuses a builder that asks for secrets, and a manifest that is not TOML', async () => {
    await ok(
      `pool create acme/builder --role builder --flake ${work}/flake --profile minimal --cpus 1 --mem 256`,
    );
    const builder = await mvm('pool build acme/builder');
    expect(builder.code).not.toBe(0);
    expect(builder.stderr).toContain(
      '[roles.builder] requires_secrets_drive = true, but a builder never gets a secrets drive',
    );
    await writeFlake(join(work, 'bad'), '[meta]\nversion = 1\n[roles.worker\n');
    await ok(`pool create acme/bad --flake ${work}/bad --profile minimal --cpus 1 --mem 256`);
    const bad = await mvm('pool build acme/bad');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("the flake's mvm-profiles.toml cannot be read: not TOML");
    await writeFlake(
      join(work, 'typo'),
      PROFILES.replace('requires_secrets_drive = false', 'requires_secret_drive = false'),
    );
    await ok(`pool create acme/typo --flake ${work}/typo --profile minimal --cpus 1 --mem 256`);
    const typo = await mvm('pool build acme/typo');
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toContain('roles.worker');
    for (const pool of ['builder', 'bad', 'typo']) {
      expect(JSON.parse((await ok(`pool revisions acme/${pool} --json`)).stdout)).toEqual([]);
    }
  }, 300_000);

  it('an agent attaches exactly the drives the revision declares', async () => {
    const token = (await readFile(join(coordinator.dataDir, 'admin.token'), 'utf8')).trim();
    const api = createApiClient({
      baseUrl: 'http://coordinator.test',
      token,
      fetch: coordinator.fetch,
    });
    await api.call('registerNode', {
      params: { node: 'node-a' },
      body: { hostname: 'a', arch: 'x86_64', capacity: { vcpus: 8, memMib: 8192, diskGib: 50 } },
    });
    for (const role of ['gateway', 'worker'] as Role[]) {
      await ok(`pool update acme/${role} --revision ${revisions.get(role)?.id}`);
      await ok(`pool scale acme/${role} --running 1`);
    }
    dataDir = await agentDataDir('prof');
    agent = await startAgent(testAgentConfig(dataDir), {
      mode: 'runtime',
      logger: quietLogger,
      network: null,
      coordinator: { api, nodeId: 'node-a' },
    });
    const expected: Record<string, string[]> = {
      gateway: ['rootfs', 'mvm-init', 'data', 'secrets', 'config'],
      // The role's default would give a worker secrets: the revision says none.
      worker: ['rootfs', 'mvm-init', 'data'],
    };
    for (const [index, role] of (['gateway', 'worker'] as Role[]).entries()) {
      const ref = { tenantId: 'acme', poolId: role, instanceId: `p-${role}` };
      const record = await agent.runtime.put(ref, {
        spec: {
          ...workerSpec(`10.240.96.${index + 3}`, `52:54:00:00:96:0${index + 3}`),
          role,
          revision: revisions.get(role)?.id ?? 'missing',
        },
        secrets: { TOKEN: 'x' },
        config: { version: 'v1', files: { 'gateway.json': '{}' } },
      });
      const { spec } = await materialize(agent.deps, record);
      expect([role, spec.drives.map((d) => d.id)]).toEqual([role, expected[role]]);
    }
  }, 300_000);
});

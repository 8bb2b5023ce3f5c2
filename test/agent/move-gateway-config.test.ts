/**
 * A gateway's config files travel with its move (docs/moves.md): two in-process agents with
 * their own data dirs, no guest booted. The source holds a stopped gateway with versioned
 * config files (the config drive its snapshot would be taken with) and a data disk; its bundle
 * carries them, and the target records the instance with the same config version and files,
 * its data disk byte for byte. Secrets are not carried. A bundle from before (its
 * `instance.json` the spec alone) still imports.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportBundle } from '../../src/drivers/move-bundle/bundle-export.ts';
import { exportInstance, importInstance, movedBody } from '../../src/agent/move/instance-bundle.ts';
import { instanceDir } from '../../src/agent/runtime/layout.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { agentDataDir, quietLogger, tcgVmm, testAgentConfig, workerSpec } from './agent-harness.ts';

const sha = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

const GATEWAY_JSON = JSON.stringify({ routes: [{ to: '10.103.0.0/16', via: '10.240.97.3' }] });

describe('a gateway moved with its config files', () => {
  const dirs: string[] = [];
  const agents: AgentHandle[] = [];
  let work = '';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'mvm-mv2-gwcfg-'));
    dirs.push(work);
    for (const label of ['mv2g', 'mv2h']) {
      const dataDir = await agentDataDir(label);
      dirs.push(dataDir);
      agents.push(
        await startAgent(testAgentConfig(dataDir), {
          mode: 'runtime',
          vmm: tcgVmm(),
          logger: quietLogger,
          network: null,
        }),
      );
    }
  });

  afterAll(async () => {
    for (const agent of agents) {
      for (const vm of await agent.runtime.list()) {
        await agent.runtime.act(vm, 'destroy').catch(() => undefined);
      }
      await agent.close();
    }
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('carries the config version and files, not the secrets', async () => {
    const [source, target] = agents;
    if (!source || !target) throw new Error('two agents expected');
    const ref = { tenantId: 'acme', poolId: 'gw', instanceId: 'gw-1' };
    const spec = {
      ...workerSpec('10.240.97.7', '52:54:00:00:97:07'),
      gateway: '10.240.97.1',
      role: 'gateway' as const,
    };
    const config = {
      version: 'v2',
      files: { 'gateway.json': GATEWAY_JSON, 'peers.txt': 'a\nb\n' },
    };
    await source.runtime.put(ref, { spec, secrets: { TOKEN: 'not-to-travel' }, config });
    const stopped = await source.runtime.act(ref, 'stop');
    const disk = join(instanceDir(source.deps.layout, stopped.key), 'drives', 'data.ext4');
    await mkdir(dirname(disk), { recursive: true });
    await writeFile(disk, 'gateway state\n');
    await truncate(disk, 4 * 1024 * 1024);

    const outDir = join(work, 'out');
    const manifest = await exportInstance(source.deps, source.runtime, ref, outDir);
    expect(manifest.parts.map((p) => p.name).sort()).toEqual(['data.ext4', 'instance.json']);
    const body = await movedBody(outDir, manifest);
    expect(body).toMatchObject({ spec: { role: 'gateway', ip: spec.ip, mac: spec.mac }, config });
    expect(JSON.stringify(body)).not.toContain('not-to-travel');
    if (!body) throw new Error('no instance spec in the bundle');
    const imported = await importInstance(target.deps, target.runtime, ref, body, outDir, manifest);
    expect(imported.status).toBe('stopped');
    expect(imported.config).toEqual(config);
    expect(imported.secrets).toEqual({});
    expect(imported.spec).toMatchObject({ role: 'gateway', ip: spec.ip, mac: spec.mac });
    const moved = join(instanceDir(target.deps.layout, imported.key), 'drives', 'data.ext4');
    expect(await sha(moved)).toBe(await sha(disk));
  });

  it('imports a bundle whose instance.json is the spec alone', async () => {
    const target = agents[1];
    if (!target) throw new Error('two agents expected');
    const ref = { tenantId: 'acme', poolId: 'web', instanceId: 'w-old' };
    const oldDir = join(work, 'old');
    await mkdir(oldDir, { recursive: true });
    const specFile = join(work, 'instance.json');
    await writeFile(specFile, JSON.stringify(workerSpec('10.240.97.8', '52:54:00:00:97:08')));
    const data = join(work, 'data.ext4');
    await writeFile(data, 'old bundle\n');
    const manifest = await exportBundle(
      [
        { name: 'data.ext4', path: data },
        { name: 'instance.json', path: specFile },
      ],
      oldDir,
    );
    const body = await movedBody(oldDir, manifest);
    expect(body).toEqual({ spec: expect.objectContaining({ ip: '10.240.97.8' }) });
    if (!body) throw new Error('no instance spec in the bundle');
    const imported = await importInstance(target.deps, target.runtime, ref, body, oldDir, manifest);
    expect(imported).toMatchObject({ status: 'stopped', config: null });
  });
});

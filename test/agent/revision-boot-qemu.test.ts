/**
 * A revision built by the coordinator boots on a node from artifacts the node fetched (QEMU,
 * TCG, one guest): an OCI image assembled here is built by `mvm pool build` on a real
 * coordinator; the agent, told the coordinator as its link, fetches the revision's manifest
 * and artifacts into its data dir when the instance first starts, checks them, and boots
 * them with its own init drive: the image's workload serves and exec sees the image's files.
 * `mvm node gc` keeps them while an instance names the revision and removes them after.
 */
import { readdir, readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectNodeGarbage } from '../../src/agent/gc/node-gc.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { readTextFile } from '../../src/cli/config.ts';
import type { RevisionView } from '../../src/contract/revisions.ts';
import { artifactsOf } from '../../src/core/revision.ts';
import { createApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import {
  startInProcessCoordinator,
  type InProcessCoordinator,
} from '../cli/support/in-process-coordinator.ts';
import { runIn } from '../cli/support/run-cli.ts';
import { execText } from '../support/exec-output.ts';
import { writeOciImage } from '../support/oci-fixture.ts';
import { webImage } from '../support/oci-images.ts';
import { until } from '../support/until.ts';
import { agentDataDir, quietLogger, ref, testAgentConfig, workerSpec } from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('revisions fetched and booted');

describe.runIf(gate.run)('a built revision boots from fetched artifacts', () => {
  const web = ref('web1');
  let work: string;
  let coordinator: InProcessCoordinator;
  let dataDir: string;
  let agent: AgentHandle;
  let revision: RevisionView;

  const mvm = async (line: string) => {
    const run = await runIn(line.split(' '), {
      env: { MVM_DATA_DIR: coordinator.dataDir },
      readText: readTextFile,
      defaultConfigFile: join(coordinator.dataDir, 'no-config.json'),
      fetch: coordinator.fetch,
    });
    expect(run.code, `${line}\n${run.stderr}`).toBe(0);
    return run;
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'mvm-revboot-'));
    coordinator = await startInProcessCoordinator({ images: true });
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
    const image = await writeOciImage(join(work, 'web'), await webImage({ greeting: 'fetched' }));
    await mvm('tenant create acme --net-id 42');
    await mvm(`pool create acme/web --image oci:${image.dir}:web --cpus 1 --mem 256`);
    revision = JSON.parse((await mvm('pool build acme/web --json')).stdout) as RevisionView;
    await mvm(`pool update acme/web --revision ${revision.id}`);
    await mvm('pool scale acme/web --running 1');
    dataDir = await agentDataDir('revboot');
    agent = await startAgent(testAgentConfig(dataDir), {
      mode: 'runtime',
      logger: quietLogger,
      network: null,
      coordinator: { api, nodeId: 'node-a' },
    });
  }, 300_000);

  afterAll(async () => {
    if (agent) {
      await agent.runtime.act(web, 'destroy').catch(() => undefined);
      await agent.close();
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await coordinator?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('fetches the revision into the agent data dir and boots it', async () => {
    await agent.runtime.put(web, {
      spec: { ...workerSpec('10.240.99.31', '52:54:00:00:99:31'), revision: revision.id },
    });
    const record: VmRecord = await agent.runtime.act(web, 'start');
    expect(record.status).toBe('running');
    const cached = (await readdir(join(dataDir, 'artifacts', 'sha256'))).sort();
    expect(cached).toEqual(
      artifactsOf(revision.manifest)
        .map((a) => a.sha256)
        .sort(),
    );
    if (!record.handle) throw new Error('no VMM handle');
    const guest = agent.deps.guests.for(record.handle);
    await until(
      'the workload listening on its port',
      async () => {
        const w = (await guest.status()).workload;
        return w?.state === 'running' && w.ports.every((p) => p.listening) ? w : undefined;
      },
      60_000,
      250,
    );
    const page = await execText(guest, { argv: ['wget', '-qO-', 'http://127.0.0.1:8080/'] });
    expect(page.stdout).toBe('served by the image\n');
    const env = await execText(guest, { argv: ['sh', '-c', 'echo "$GREETING"; cat message'] });
    expect(env.stdout).toBe('fetched\nfrom the image\n');
  }, 240_000);

  it('node gc keeps the artifacts an instance names and removes them once none does', async () => {
    const kinds = async (dryRun: boolean) =>
      (await collectNodeGarbage(agent.runtime, agent.deps, { dryRun })).items
        .filter((i) => i.kind === 'revision' || i.name.startsWith('revision '))
        .map((i) => i.name);
    expect(await kinds(true)).toEqual([]);
    await agent.runtime.act(web, 'destroy');
    const removed = await kinds(false);
    expect(removed).toContain(revision.id);
    expect(removed.filter((n) => n.startsWith('revision '))).toHaveLength(
      artifactsOf(revision.manifest).length,
    );
    expect(await readdir(join(dataDir, 'artifacts', 'sha256'))).toEqual([]);
  }, 120_000);
});

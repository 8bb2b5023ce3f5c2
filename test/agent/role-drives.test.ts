/**
 * The drives a VM gets are its role's (core/roles.ts drivesForRole), built on the host with
 * the real ext4 driver and checked on the VmSpec a boot would hand the VMM. Nothing boots.
 */
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import { materialize } from '../../src/agent/runtime/vm-spec.ts';
import type { Role } from '../../src/core/model.ts';
import {
  agentDataDir,
  quietLogger,
  ref,
  tcgVmm,
  testAgentConfig,
  workerSpec,
} from './agent-harness.ts';

describe('drives per role', () => {
  let dataDir: string;
  let agent: AgentHandle;

  beforeAll(async () => {
    dataDir = await agentDataDir('drv');
    agent = await startAgent(testAgentConfig(dataDir), {
      mode: 'runtime',
      vmm: tcgVmm(),
      logger: quietLogger,
      network: null,
    });
  });

  afterAll(async () => {
    if (agent) {
      await agent.runtime.destroyAll();
      await agent.close();
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  // The role drive model, written out here rather than imported from core/roles.ts. mvm's own
  // read-only drive (init and agent) comes with the image's root in every role.
  it.each([
    ['gateway', ['rootfs', 'mvm-init', 'data', 'secrets', 'config']],
    ['worker', ['rootfs', 'mvm-init', 'data', 'secrets', 'config']],
    ['builder', ['rootfs', 'mvm-init', 'data']],
    ['capability-imessage', ['rootfs', 'mvm-init', 'data']],
  ] as [Role, string[]][])(
    '%s: the VmSpec carries exactly %j, with digests for secrets and config',
    async (role, drives) => {
      const octet = ['gateway', 'worker', 'builder', 'capability-imessage'].indexOf(role) + 3;
      const record = await agent.runtime.put(ref(`d-${role.slice(0, 8)}`), {
        spec: { ...workerSpec(`10.240.99.${octet}`, `52:54:00:00:99:0${octet}`), role },
        secrets: { TOKEN: 'x' },
        config: { version: 'v1', files: { 'gateway.json': '{}' } },
      });
      const { spec, digests } = await materialize(agent.deps, record);
      const image = await agent.deps.images.resolve(record.spec.revision);
      const expected = drives.filter(
        (d) => (d !== 'rootfs' && d !== 'mvm-init') || image.rootfsPath,
      );
      expect(spec.drives.map((d) => d.id)).toEqual(expected);
      expect(spec.drives.find((d) => d.id === 'data')?.readOnly).toBe(false);
      expect(spec.drives.find((d) => d.id === 'mvm-init')?.readOnly).toBe(true);
      expect(Object.keys(digests).sort()).toEqual(
        expected.filter((d) => d === 'secrets' || d === 'config').sort(),
      );
      // Secrets lie in clear in their image, so it is built outside the data dir (tmpfs).
      const secrets = spec.drives.find((d) => d.id === 'secrets');
      if (secrets) {
        expect(secrets.path.startsWith(`${agent.deps.layout.secretsDir}/`)).toBe(true);
        expect(secrets.path.startsWith(dataDir)).toBe(false);
      }
    },
  );

  it('a config drive comes only with config: a worker without any gets none', async () => {
    const record = await agent.runtime.put(ref('d-plain'), {
      spec: workerSpec('10.240.99.9', '52:54:00:00:99:09'),
    });
    const { spec } = await materialize(agent.deps, record);
    expect(spec.drives.map((d) => d.id)).not.toContain('config');
    expect(spec.drives.map((d) => d.id)).toContain('secrets');
  });
});

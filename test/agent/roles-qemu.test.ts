/**
 * Roles take effect inside real guests (QEMU, TCG; four boots, one at a time): a gateway
 * forwards IPv4 and has applied its gateway.json's routes, or with a bad file applied none of
 * it and says why; a builder has no secrets drive
 * (none built on the host, none in the guest) although its instance was given a secret; a
 * worker reads its secret at /run/secrets.
 */
import { stat } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestOf } from '../../src/agent/runtime/guest-access.ts';
import { startAgent, type AgentHandle } from '../../src/agent/start-agent.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import type { Role } from '../../src/core/model.ts';
import { execText } from '../support/exec-output.ts';
import { until } from '../support/until.ts';
import {
  agentDataDir,
  quietLogger,
  secretsDrivePath,
  tcgVmm,
  testAgentConfig,
  workerSpec,
} from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('roles in real guests');

const SECRET = 'role-secret-7f3a91c2d4';
const GATEWAY_JSON = JSON.stringify({
  routes: [
    { to: '10.101.0.0/16', via: '10.240.97.1' },
    { to: '192.168.50.0/24', via: '10.240.97.9' },
  ],
});

describe.runIf(gate.run)('roles in real guests', () => {
  let dataDir = '';
  let agent: AgentHandle;

  beforeAll(async () => {
    dataDir = await agentDataDir('roles');
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

  /** Boots one instance of `role` (given a secret, and gateway.json) and runs `check` in it. */
  const withGuest = async (
    role: Role,
    octet: number,
    gatewayJson: string,
    check: (
      run: (argv: string[]) => Promise<{ code: number; stdout: string }>,
      record: VmRecord,
      ref: { tenantId: string; poolId: string; instanceId: string },
    ) => Promise<void>,
  ) => {
    const ref = { tenantId: 'acme', poolId: role, instanceId: `r-${role.slice(0, 7)}-${octet}` };
    const spec = workerSpec(`10.240.97.${octet}`, `52:54:00:00:97:0${octet}`);
    await agent.runtime.put(ref, {
      spec: { ...spec, gateway: '10.240.97.1', role },
      secrets: { TOKEN: SECRET },
      config: { version: 'v1', files: { 'gateway.json': gatewayJson } },
    });
    const record = await agent.runtime.act(ref, 'start');
    expect(record.status).toBe('running');
    // The guest as the record has it now (a wake starts another VMM process).
    const run = async (argv: string[]) => {
      const out = await execText(guestOf(agent.deps, await agent.runtime.get(ref)), { argv });
      return { code: out.exit.code ?? -1, stdout: out.stdout };
    };
    try {
      await check(run, record, ref);
    } finally {
      await agent.runtime.act(ref, 'destroy');
    }
  };

  it('a gateway forwards IPv4 and has applied the routes of its gateway.json', async () => {
    await withGuest('gateway', 3, GATEWAY_JSON, async (run) => {
      expect((await run(['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout).toBe('1\n');
      expect((await run(['cat', '/run/mvm/role'])).stdout).toBe('gateway\n');
      expect((await run(['cat', '/run/mvm/gateway.status'])).stdout).toBe('applied: 2 routes\n');
      const routes = (await run(['/mvm/bin/ip', 'route', 'show'])).stdout;
      expect(routes).toMatch(/^10\.101\.0\.0\/16 via 10\.240\.97\.1 dev eth0/m);
      expect(routes).toMatch(/^192\.168\.50\.0\/24 via 10\.240\.97\.9 dev eth0/m);
      expect((await run(['cat', '/run/secrets/TOKEN'])).stdout).toBe(SECRET);
    });
  }, 240_000);

  it('a gateway applies the gateway.json a wake brings, without a reboot', async () => {
    await withGuest('gateway', 7, GATEWAY_JSON, async (run, _record, ref) => {
      const bootId = (await run(['cat', '/proc/sys/kernel/random/boot_id'])).stdout;
      const next = JSON.stringify({ routes: [{ to: '10.103.0.0/16', via: '10.240.97.3' }] });
      await agent.runtime.put(ref, {
        spec: {
          ...workerSpec('10.240.97.7', '52:54:00:00:97:07'),
          gateway: '10.240.97.1',
          role: 'gateway',
        },
        secrets: { TOKEN: SECRET },
        config: { version: 'v2', files: { 'gateway.json': next } },
      });
      expect((await agent.runtime.act(ref, 'sleep')).status).toBe('sleeping');
      expect((await agent.runtime.act(ref, 'start')).status).toBe('running');
      expect((await run(['cat', '/proc/sys/kernel/random/boot_id'])).stdout).toBe(bootId);
      // The wake's reply does not wait for the routes: they are applied beside it.
      await until(
        'the new gateway.json applied',
        async () => {
          const status = await run(['cat', '/run/mvm/gateway.status']);
          return status.stdout === 'applied: 1 routes\n' ? status : undefined;
        },
        30_000,
        250,
      );
      const routes = (await run(['/mvm/bin/ip', 'route', 'show'])).stdout;
      expect(routes).toMatch(/^10\.103\.0\.0\/16 via 10\.240\.97\.3 dev eth0/m);
    });
  }, 240_000);

  it('a gateway given a bad gateway.json forwards, applies none of it and says why', async () => {
    // The coordinator refuses this file for a gateway pool; the local API does not check it.
    const bad = JSON.stringify({ routes: [{ to: '10.101.0.1/16', via: '10.240.97.1' }], nat: 1 });
    await withGuest('gateway', 6, bad, async (run) => {
      expect((await run(['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout).toBe('1\n');
      expect((await run(['cat', '/run/mvm/gateway.status'])).stdout).toBe(
        'refused: gateway.json is invalid, nothing applied (see /run/mvm/gateway.err)\n',
      );
      expect((await run(['cat', '/run/mvm/gateway.err'])).stdout).toBe(
        "gateway.json: unknown key 'nat'\ngateway.json: routes[0].to must be an IPv4 CIDR with host bits zero\n",
      );
      expect((await run(['/mvm/bin/ip', 'route', 'show'])).stdout).not.toContain('10.101.0.0');
    });
  }, 240_000);

  it('a builder gets no secrets drive, though its instance was given a secret', async () => {
    await withGuest('builder', 4, GATEWAY_JSON, async (run, record) => {
      await expect(stat(secretsDrivePath(agent.deps.layout, record.key))).rejects.toThrow(/ENOENT/);
      expect((await run(['ls', '-A', '/run/secrets'])).stdout).toBe('');
      expect((await run(['/mvm/bin/findfs', 'LABEL=secrets'])).code).not.toBe(0);
      expect((await run(['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout).toBe('0\n');
      expect((await run(['cat', '/run/mvm/role'])).stdout).toBe('builder\n');
      // No config drive either (seed 003): no gateway.json in the guest.
      expect((await run(['ls', '-A', '/etc/mvm-config'])).stdout).toBe('');
    });
  }, 240_000);

  it('a worker reads its secret and does not forward', async () => {
    await withGuest('worker', 5, GATEWAY_JSON, async (run) => {
      expect((await run(['cat', '/run/secrets/TOKEN'])).stdout).toBe(SECRET);
      expect((await run(['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout).toBe('0\n');
      expect((await run(['cat', '/run/mvm/role'])).stdout).toBe('worker\n');
    });
  }, 240_000);
});

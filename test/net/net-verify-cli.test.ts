/**
 * `mvm net verify` end to end: the real CLI process, a state file, the real driver's work in
 * a namespace. Clean state exits 0; a detached bridge port or a deleted rule exits 5
 * (conflict) and names the fault, in text and in --json.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { macFor } from '../../src/core/addresses.ts';
import { tapName } from '../../src/core/naming.ts';
import { LinuxNetworkDriver } from '../../src/drivers/linux-net/linux-network-driver.ts';
import type { HostNetworkState } from '../../src/ports/network.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('mvm net verify', [await netGate('mvm net verify')]);

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const state: HostNetworkState = {
  tenants: [
    { netId: 7, subnet: '10.240.7.0/24', gateway: '10.240.7.1', egress: false, vxlanPeers: [] },
  ],
  instances: [{ tenantNetId: 7, tap: tapName(7, 3), ip: '10.240.7.3', mac: macFor(7, 3) }],
};

describe.runIf(gate.run)('mvm net verify against a live namespace', () => {
  let lab: NetLab;
  let dir: string;
  let node: string;
  let stateFile: string;
  const verify = (...extra: string[]) =>
    runner.run(
      process.execPath,
      ['--import', 'tsx', MAIN, 'net', 'verify', '--state', stateFile, '--netns', node, ...extra],
      {
        check: false,
        timeoutMs: 30_000,
      },
    );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-verify-'));
    lab = new NetLab(dir);
    node = await lab.namespace('verify-node');
    stateFile = join(dir, 'state.json');
    await writeFile(stateFile, JSON.stringify(state));
    // A real persistent tap, as the driver makes it for a VMM.
    await new LinuxNetworkDriver({ runner, netns: node }).apply(state);
  });

  afterAll(async () => {
    await lab?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 on a converged node', async () => {
    const result = await verify();
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^ok: 1 tenant network/);
    expect(JSON.parse((await verify('--json')).stdout)).toEqual({ ok: true, violations: [] });
  });

  it('exits 5 and names a detached port and a deleted rule', async () => {
    await lab.ip(node, ['link', 'set', 'mvt7-3', 'nomaster']);
    await lab.exec(node, 'nft', ['flush', 'chain', 'bridge', 'mvm_bridge', 't7_mvt7_3']);
    const result = await verify();
    expect(result.exitCode).toBe(5);
    expect(result.stderr).toContain('port_detached mvt7-3');
    expect(result.stderr).toContain(
      'nft_rule_missing bridge mvm_bridge t7_mvt7_3: ether saddr != 02:6d:76:00:07:03',
    );
    const json = JSON.parse((await verify('--json')).stderr) as {
      error: { code: string; details: { violations: Array<{ code: string; subject: string }> } };
    };
    expect(json.error.code).toBe('conflict');
    expect(json.error.details.violations.map((v) => v.code)).toContain('port_detached');
  });

  it('refuses a state file that is not a host network state, naming every problem', async () => {
    await writeFile(stateFile, JSON.stringify({ tenants: [{ netId: 'x' }], instances: [] }));
    const result = await verify();
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('tenants.0.netId');
    expect(result.stderr).toContain('tenants.0.subnet');
  });
});

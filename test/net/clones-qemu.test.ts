/**
 * Clones from a pool base with real QEMU guests (TCG) and the real agent, its tenant network
 * inside a node namespace (as `mvm agent serve --netns` runs it), `MVM_CLONES=on`. The first
 * instance cold-boots and leaves the pool its base; five more are restored from that base
 * (the donor's boot id proves it: restored, not booted) and each takes its own identity
 * before its NIC carries a frame. Checked from the guests and from the wire: distinct
 * hostname, IP, MAC, machine-id (the donor's and each clone's derived from its key) and random bytes, clocks within 1 s of the host, one ARP
 * answer per address (the donor's too), and tenant B out of reach both ways. The pool's
 * warm-up ran in the donor before its base was taken: its result is in every clone's memory.
 */
import { readFile, readdir, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent/start-agent.ts';
import type { AgentHandle } from '../../src/agent/start-agent.ts';
import { macFor } from '../../src/core/addresses.ts';
import { bridgeName, tapName } from '../../src/core/naming.ts';
import type { LocalSpecInput } from '../../src/contract/agent-api.ts';
import { NetnsProcessRunner } from '../../src/drivers/process/netns-process-runner.ts';
import { QemuVmm } from '../../src/drivers/qemu/qemu-vmm.ts';
import type { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { agentDataDir, quietLogger, testAgentConfig } from '../agent/agent-harness.ts';
import { execText } from '../support/exec-output.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { tenantWorker } from './support/tenant-spec.ts';
import { machineIdOf } from '../../src/core/machine-id.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';
import { tearDownNetnsAgent } from './support/netns-agent-teardown.ts';

const gate = await qemuSuiteGate('clones from a pool base', [
  await netGate('clones from a pool base'),
]);

const NET = 5;
/**
 * The pool's warm-up (docs/clones.md) leaves a token only in guest RAM (/run is a tmpfs):
 * clones restored from the base have it without running anything.
 */
const WARM_UP = ['sh', '-c', 'cat /proc/sys/kernel/random/uuid > /run/warm-up'];
const spec = (octet: number): LocalSpecInput => ({
  ...tenantWorker(NET, octet),
  hooks: { warmUp: WARM_UP },
});
const ref = (instanceId: string) => ({ tenantId: 'acme', poolId: 'web', instanceId });
const DONOR = { ref: ref('c0'), octet: 3 };
const CLONES = [1, 2, 3, 4, 5].map((n) => ({ ref: ref(`c${n}`), octet: 3 + n }));
const STRANGER_IP = '10.240.6.3';

interface Seen {
  hostname: string;
  ip: string;
  mac: string;
  /** /etc/machine-id, or /run/mvm/machine-id where the image has none (the dev image). */
  machineId: string;
  random: string;
  bootId: string;
  /** guest wall clock minus the host's, seconds (the host's read around the exec). */
  skew: number;
}

describe.runIf(gate.run)('five clones of one pool base', () => {
  let dataDir = '';
  let lab: NetLab | undefined;
  let node = '';
  let stranger = '';
  let warmToken = '';
  let agent: AgentHandle | undefined;
  let vmm: QemuVmm | undefined;
  const seen = new Map<string, Seen>();

  const guest = async (instanceId: string): Promise<GuestAgentClient> => {
    const record = await agent!.runtime.get(ref(instanceId));
    if (!record.handle) throw new Error(`${instanceId} has no VMM`);
    return agent!.deps.guests.for(record.handle);
  };
  const sh = async (instanceId: string, script: string): Promise<string> => {
    const out = await execText(await guest(instanceId), { argv: ['sh', '-c', script] });
    expect(out.exit.code, `${instanceId}: ${script}: ${out.stderr}`).toBe(0);
    return out.stdout.trim();
  };
  const look = async (instanceId: string): Promise<Seen> => {
    const before = Date.now() / 1000;
    const clock = await sh(instanceId, 'adjtimex | grep time.tv_');
    const after = Date.now() / 1000;
    const sec = Number(/tv_sec:\s+(\d+)/.exec(clock)?.[1]);
    const usec = Number(/tv_usec:\s+(\d+)/.exec(clock)?.[1]);
    const guestNow = sec + usec / 1e6;
    const skew = guestNow < before ? guestNow - before : guestNow > after ? guestNow - after : 0;
    const status = await (await guest(instanceId)).status();
    return {
      hostname: await sh(instanceId, 'hostname'),
      ip: await sh(instanceId, "ip -o -4 addr show dev eth0 | awk '{print $4}'"),
      mac: await sh(instanceId, 'cat /sys/class/net/eth0/address'),
      machineId: await sh(
        instanceId,
        'cat /etc/machine-id 2>/dev/null || cat /run/mvm/machine-id 2>/dev/null || echo none',
      ),
      random: await sh(instanceId, 'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \\n"'),
      bootId: status.boot_id,
      skew,
    };
  };
  /** The MACs that answer ARP for `ip` on the tenant bridge (busybox arping from the node). */
  const arpAnswers = async (ip: string): Promise<string[]> => {
    const out = await lab!.exec(node, 'busybox', [
      'arping',
      '-c',
      '3',
      '-w',
      '4',
      '-I',
      bridgeName(NET),
      ip,
    ]);
    return [...out.stdout.matchAll(/reply from [\d.]+ \[([0-9a-f:]+)\]/gi)].map((m) =>
      m[1]!.toLowerCase(),
    );
  };

  afterAll(async () => {
    await tearDownNetnsAgent({ agent, vmm, lab, dataDir });
  }, 120_000);

  it('cold-boots the first instance, which leaves the pool its base', async () => {
    dataDir = await agentDataDir('clones');
    lab = new NetLab(dataDir);
    node = await lab.namespace('clones');
    vmm = new QemuVmm({ runner: new NetnsProcessRunner(runner, node), accel: 'tcg' });
    const config = testAgentConfig(
      dataDir,
      { MVM_NETWORK: 'on', MVM_CLONES: 'on' },
      { netns: node },
    );
    expect(config.clones).toBe(true);
    agent = await startAgent(config, { vmm, logger: quietLogger });
    await agent.runtime.put(DONOR.ref, { spec: spec(DONOR.octet) });
    await agent.runtime.put(
      { tenantId: 'zeta', poolId: 'web', instanceId: 'b1' },
      {
        spec: {
          ...spec(3),
          ip: STRANGER_IP,
          gateway: '10.240.6.1',
          mac: macFor(6, 3),
          tenant: { netId: 6, subnet: '10.240.6.0/24', gateway: '10.240.6.1' },
        },
      },
    );
    stranger = await lab.guest(node, 'clb', {
      tap: tapName(6, 3),
      ip: STRANGER_IP,
      mac: macFor(6, 3),
      gateway: '10.240.6.1',
    });
    expect((await agent.runtime.act(DONOR.ref, 'start')).status).toBe('running');
    const bases = (await readdir(join(dataDir, 'bases'))).filter((n) => !n.startsWith('.'));
    expect(bases).toHaveLength(1);
    expect(bases[0]).toMatch(/^[0-9a-f]{64}$/);
    seen.set('c0', await look('c0'));
    // A cold boot takes its machine-id from the kernel command line, derived from its key.
    expect(seen.get('c0')!.machineId).toBe(machineIdOf(agent.runtime.keyOf(DONOR.ref)));
    warmToken = await sh('c0', 'cat /run/warm-up');
    expect(warmToken).toMatch(/^[0-9a-f-]{36}$/);
  }, 600_000);

  it('starts five clones from it, each with its own identity', async () => {
    for (const clone of CLONES) {
      await agent!.runtime.put(clone.ref, { spec: spec(clone.octet) });
      expect((await agent!.runtime.act(clone.ref, 'start')).status).toBe('running');
      seen.set(clone.ref.instanceId, await look(clone.ref.instanceId));
    }
    const donor = seen.get('c0')!;
    for (const clone of CLONES) {
      const s = seen.get(clone.ref.instanceId)!;
      // Restored from the donor's snapshot, not booted: the same kernel boot.
      expect(s.bootId).toBe(donor.bootId);
      expect(s).toMatchObject({
        hostname: clone.ref.instanceId,
        ip: `10.240.${NET}.${clone.octet}/24`,
        mac: macFor(NET, clone.octet),
      });
      // Its own, the one its cold boots would get, never the donor's.
      expect(s.machineId).toBe(machineIdOf(agent!.runtime.keyOf(clone.ref)));
      // What the donor's warm-up left in its memory is in every clone's.
      expect(await sh(clone.ref.instanceId, 'cat /run/warm-up')).toBe(warmToken);
    }
    const all = [...seen.values()];
    for (const field of ['hostname', 'ip', 'mac', 'machineId', 'random'] as const) {
      expect(new Set(all.map((s) => s[field])).size, field).toBe(all.length);
    }
  }, 900_000);

  it("keeps every clone's clock within 1 s of the host", () => {
    for (const clone of CLONES) {
      expect(Math.abs(seen.get(clone.ref.instanceId)!.skew)).toBeLessThanOrEqual(1);
    }
  });

  it("gets exactly one ARP answer per address, the donor's included", async () => {
    for (const { ref: r, octet } of [DONOR, ...CLONES]) {
      const answers = await arpAnswers(`10.240.${NET}.${octet}`);
      expect(answers.length, r.instanceId).toBeGreaterThan(0);
      expect(new Set(answers), r.instanceId).toEqual(new Set([macFor(NET, octet)]));
    }
  }, 300_000);

  it('reaches its own tenant, never tenant B, and tenant B never reaches it', async () => {
    for (const clone of CLONES) {
      const id = clone.ref.instanceId;
      expect(
        await sh(id, `ping -c 1 -W 3 10.240.${NET}.${DONOR.octet} >/dev/null && echo ok`),
      ).toBe('ok');
      expect(
        await sh(id, `ping -c 1 -W 2 ${STRANGER_IP} >/dev/null && echo reached || echo no`),
      ).toBe('no');
      expect(await lab!.ping(stranger, `10.240.${NET}.${clone.octet}`)).toBe(false);
    }
    // The stranger is alive: its own gateway answers.
    expect(await lab!.ping(stranger, '10.240.6.1')).toBe(true);
  }, 300_000);

  it('a clone sleeps and wakes as itself (its own snapshot holds its identity)', async () => {
    const c1 = CLONES[0]!.ref;
    expect((await agent!.runtime.act(c1, 'sleep')).status).toBe('sleeping');
    expect((await agent!.runtime.act(c1, 'wake')).status).toBe('running');
    const s = await look('c1');
    const before = seen.get('c1')!;
    expect(s).toMatchObject({
      hostname: before.hostname,
      ip: before.ip,
      mac: before.mac,
      machineId: before.machineId,
      bootId: before.bootId,
    });
    expect(
      await sh('c1', `ping -c 1 -W 3 10.240.${NET}.${DONOR.octet} >/dev/null && echo ok`),
    ).toBe('ok');
  }, 300_000);

  it('cold-boots from a broken base, which it replaces', async () => {
    const [key] = (await readdir(join(dataDir, 'bases'))).filter((n) => !n.startsWith('.'));
    const baseFile = join(dataDir, 'bases', key!, 'base.json');
    const before = JSON.parse(await readFile(baseFile, 'utf8')) as { createdAt: string };
    await truncate(join(dataDir, 'bases', key!, 'snapshot', 'vm.state'), 4096);
    const c6 = ref('c6');
    await agent!.runtime.put(c6, { spec: spec(9) });
    expect((await agent!.runtime.act(c6, 'start')).status).toBe('running');
    const s = await look('c6');
    // Booted, not restored: a boot of its own, its identity from its command line.
    expect(s.bootId).not.toBe(seen.get('c0')!.bootId);
    expect(s).toMatchObject({ hostname: 'c6', ip: `10.240.${NET}.9/24`, mac: macFor(NET, 9) });
    // Its first boot gave the pool a fresh base under the same key.
    const after = JSON.parse(await readFile(baseFile, 'utf8')) as {
      createdAt: string;
      donor: string;
    };
    expect(after.createdAt).not.toBe(before.createdAt);
    expect(after.donor).toContain('c6');
  }, 600_000);
});

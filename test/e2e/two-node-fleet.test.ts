/**
 * The fleet for real: a coordinator and two agents as separate processes, each in its own
 * network namespace (joined by a test bridge on 192.168.250.0/24), agents as nodes `node-a`
 * and `node-b` running real QEMU guests (TCG) with tenant networking inside their namespace.
 * One pool is scaled up (spread: one guest per node), between running/warm/sleeping and down;
 * the coordinator is killed and restarted, and agent B is killed -9 in the middle of a sleep.
 * Every step converges on the coordinator's instance list with nothing lost: same ids, nodes,
 * IPs and MACs, one QEMU per instance in its node's namespace, the same guest boot on wake.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { vmKey } from '../../src/agent/runtime/vm-key.ts';
import type { InstanceView } from '../../src/contract/resources.ts';
import { isAlive } from '../../src/drivers/process/process-control.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { runner } from '../net/support/net-lab.ts';
import { holdsFor, identityOf, localOf, noVmm, onNode, soleVmmIn } from './support/fleet-checks.ts';
import { fleetGate } from './support/fleet-gate.ts';
import { converge } from './support/fleet-probes.ts';
import { NODE_IDS, type NodeId } from './support/fleet-topology.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';
import { useFleetLab } from './support/fleet-suite.ts';

const gate = ciSuiteGate('two-node fleet', [await fleetGate('two-node fleet (e2e)')]);

const TENANT = 'fleet';
const POOL = 'web';
const ref = (i: InstanceView) => ({ tenantId: TENANT, poolId: POOL, instanceId: i.id });
const statuses = (list: readonly InstanceView[]) => list.map((i) => i.status).sort();
/** Every instance placed, at its desired status, and the statuses are exactly `want`. */
const settledAs =
  (...want: string[]) =>
  (list: InstanceView[]): boolean =>
    list.every((i) => i.nodeId !== null && i.status === i.desiredStatus) &&
    JSON.stringify(statuses(list)) === JSON.stringify([...want].sort());

describe.runIf(gate.run)('a coordinator and two agents, each in its own namespace', () => {
  const fleet = useFleetLab({
    name: 'two-node fleet',
    nodes: NODE_IDS,
    tenant: TENANT,
    pool: POOL,
  });
  let initial: string[] = [];
  const bootIds = new Map<string, string>();
  const qemuPids = new Map<string, number>();

  const scale = (body: { running?: number; warm?: number; sleeping?: number }) =>
    fleet().api.call('scalePool', { params: { tenant: TENANT, pool: POOL }, body });
  const settle = (what: string, done: (list: InstanceView[]) => boolean, ms = 90_000) =>
    converge(fleet().api, TENANT, what, done, ms);
  /** What each agent holds: status, QEMU pid and record version per instance. */
  const localRecords = async (node: NodeId): Promise<string[]> =>
    (await fleet().agent(node).client.list())
      .map((i) => `${i.key} ${i.status} pid=${String(i.pid)} v=${i.version}`)
      .sort();

  it('running 2: spread puts one real guest on each node, inside that node namespace', async () => {
    await scale({ running: 2 });
    const list = await settle('two running instances', settledAs('running', 'running'), 150_000);
    initial = identityOf(list);
    for (const node of NODE_IDS) {
      const instance = onNode(list, node);
      const local = await localOf(fleet(), node, instance.id);
      expect(local).toMatchObject({
        status: 'running',
        spec: { ip: instance.ip, mac: instance.mac },
      });
      qemuPids.set(instance.id, await soleVmmIn(fleet(), node, local));
      const stats = await fleet().agent(node).client.stats(ref(instance));
      expect(stats.guest?.ip).toBe(instance.ip);
      bootIds.set(instance.id, stats.guest?.bootId ?? '');
      // Tenant networking lives in the node namespace: its bridge and this guest's tap.
      const network = await fleet().agent(node).client.network();
      expect(network.state.instances.map((i) => i.ip)).toEqual([instance.ip]);
      const ns = fleet().topology.nodeNs[node];
      const bridges = await runner.run('ip', ['-n', ns, '-o', 'link', 'show', 'type', 'bridge']);
      expect(bridges.stdout).toContain('br-tenant-');
    }
  }, 180_000);

  it('running 1, warm 1: one guest pauses in place, nothing moves', async () => {
    await scale({ running: 1, warm: 1 });
    const list = await settle('one running, one warm', settledAs('running', 'warm'));
    expect(identityOf(list)).toEqual(initial);
    for (const instance of list) {
      const node = instance.nodeId as NodeId;
      const stats = await fleet().agent(node).client.stats(ref(instance));
      expect(stats.pid).toBe(qemuPids.get(instance.id));
      expect(stats.vmState).toBe(instance.status === 'warm' ? 'paused' : 'running');
    }
  });

  it('coordinator killed: the agents keep their VMs; restarted, it lost nothing', async () => {
    const before = { a: await localRecords('node-a'), b: await localRecords('node-b') };
    await fleet().killCoordinator();
    await holdsFor(4_000, 'agents keeping their VMs with the coordinator down', async () => {
      expect(await localRecords('node-a')).toEqual(before.a);
      expect(await localRecords('node-b')).toEqual(before.b);
      for (const pid of qemuPids.values()) expect(await isAlive(pid)).toBe(true);
    });
    await fleet().startCoordinator();
    const list = await settle('the restarted coordinator', settledAs('running', 'warm'));
    expect(identityOf(list)).toEqual(initial);
  });

  it('sleeping 2 with agent B killed -9 mid-sleep: it adopts its guest and finishes', async () => {
    const b = onNode(
      await fleet().api.call('listInstances', { query: { tenant: TENANT } }),
      'node-b',
    );
    const key = vmKey(TENANT, POOL, b.id);
    const snapshots = join(fleet().agentDir('node-b'), 'vms', key, 'snapshots');
    await scale({ running: 0, warm: 0, sleeping: 2 });
    await waitUntil(() => (existsSync(snapshots) ? true : undefined), {
      clock: systemClock,
      timeoutMs: 60_000,
      intervalMs: 5,
      what: `agent node-b starting the snapshot of ${key}`,
    });
    const midSleep = await isAlive(qemuPids.get(b.id) ?? 0);
    await fleet().killAgent('node-b');
    expect(midSleep, 'the kill must land while B still had its QEMU (mid-sleep)').toBe(true);
    const recoveries = async () =>
      (await readFile(join(fleet().agentDir('node-b'), 'agent.log'), 'utf8'))
        .split('\n')
        .filter((line) => line.startsWith('recovery: '));
    const before = (await recoveries()).length;
    await fleet().startAgent('node-b');
    // The socket answers before `agent serve` prints its start-up lines: wait for this start's.
    const recovery = await waitUntil(async () => (await recoveries())[before], {
      clock: systemClock,
      timeoutMs: 30_000,
      intervalMs: 100,
      what: 'agent B start-up lines',
    });
    expect(recovery).toContain('recovery: adopted 1, failed 0');
    const list = await settle(
      'both sleeping after agent B came back',
      settledAs('sleeping', 'sleeping'),
    );
    expect(identityOf(list)).toEqual(initial);
    for (const node of NODE_IDS) {
      const local = await localOf(fleet(), node, onNode(list, node).id);
      expect(local.status).toBe('sleeping');
      expect(local.snapshotDir?.startsWith(`${fleet().agentDir(node)}/vms/${local.key}/`)).toBe(
        true,
      );
      expect(existsSync(join(local.snapshotDir ?? '', 'vm.state'))).toBe(true);
      await noVmm(fleet(), local.key);
    }
  }, 150_000);

  it('running 2: both wake on their own node into the same boot, one QEMU each', async () => {
    await scale({ running: 2, sleeping: 0 });
    const list = await settle('both woken', settledAs('running', 'running'));
    expect(identityOf(list)).toEqual(initial);
    for (const node of NODE_IDS) {
      const instance = onNode(list, node);
      const local = await localOf(fleet(), node, instance.id);
      qemuPids.set(instance.id, await soleVmmIn(fleet(), node, local));
      const stats = await fleet().agent(node).client.stats(ref(instance));
      expect(stats.guest?.bootId).toBe(bootIds.get(instance.id));
    }
  }, 120_000);

  it('scaled to 0 and destroyed: each agent tears its guest and tenant network down', async () => {
    await scale({ running: 0 });
    const stopped = await settle('both stopped', settledAs('stopped', 'stopped'));
    for (const instance of stopped) await noVmm(fleet(), vmKey(TENANT, POOL, instance.id));
    await fleet().api.call('destroyPool', {
      params: { tenant: TENANT, pool: POOL },
      query: { force: 'true' },
    });
    for (const node of NODE_IDS) {
      const agent = fleet().agent(node);
      await waitUntil(async () => ((await agent.client.list()).length === 0 ? true : undefined), {
        clock: systemClock,
        timeoutMs: 60_000,
        intervalMs: 250,
        what: `agent ${node} removing its instance after the pool was destroyed`,
      });
      const dirs = await readdir(join(fleet().agentDir(node), 'vms'));
      expect(dirs.filter((d) => d.startsWith('mvm-'))).toEqual([]);
      expect((await agent.client.network()).state.instances).toEqual([]);
      // The record goes first, then the network follows the remaining records: wait for it.
      const ns = fleet().topology.nodeNs[node];
      const bridges = async () =>
        (await runner.run('ip', ['-n', ns, '-o', 'link', 'show', 'type', 'bridge'])).stdout;
      await waitUntil(async () => (!(await bridges()).includes('br-tenant-') ? true : undefined), {
        clock: systemClock,
        timeoutMs: 10_000,
        intervalMs: 100,
        what: `agent ${node} removing the tenant bridge after its last VM`,
      }).catch(() => undefined);
      expect(await bridges()).not.toContain('br-tenant-');
    }
  }, 120_000);
});

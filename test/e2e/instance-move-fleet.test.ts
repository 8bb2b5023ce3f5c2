/**
 * `mvm instance move` for real: a coordinator and two agents as separate processes, each in
 * its own network namespace (FleetLab; the agents use the development token, the permission
 * test proves the move routes' node-certificate scope). A running guest is put to
 * sleep on its node and moved to the other one through the coordinator's relay with `--wake`:
 * it wakes there into the same boot (its RAM came along) with its IP and MAC, the coordinator
 * places it on the target, and the source's agent no longer holds it.
 */
import { describe, expect, it } from 'vitest';
import type { InstanceView } from '../../src/contract/resources.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import { localOf, soleVmmIn } from './support/fleet-checks.ts';
import { fleetGate } from './support/fleet-gate.ts';
import { converge } from './support/fleet-probes.ts';
import { NODE_IDS, type NodeId } from './support/fleet-topology.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';
import { useFleetLab } from './support/fleet-suite.ts';

const gate = ciSuiteGate('mvm instance move between two agent processes', [
  await fleetGate('instance move across a fleet (e2e)'),
]);

const TENANT = 'drn';
const POOL = 'web';
const ref = (i: InstanceView) => ({ tenantId: TENANT, poolId: POOL, instanceId: i.id });

describe.runIf(gate.run)('mvm instance move between two agent processes', () => {
  const fleet = useFleetLab({
    name: 'instance move fleet',
    nodes: NODE_IDS,
    tenant: TENANT,
    pool: POOL,
  });

  it('moves a sleeping guest to the other node and wakes it there into the same boot', async () => {
    const api = fleet().api;
    await api.call('scalePool', { params: { tenant: TENANT, pool: POOL }, body: { running: 1 } });
    const [running] = await converge(
      api,
      TENANT,
      'one running instance',
      (list) => list.length === 1 && list[0]?.status === 'running',
      150_000,
    );
    if (!running?.nodeId) throw new Error('not placed');
    const source = running.nodeId as NodeId;
    const target = NODE_IDS.find((n) => n !== source) as NodeId;
    const before = await fleet().agent(source).client.stats(ref(running));
    await api.call('instanceAction', {
      params: { tenant: TENANT, pool: POOL, instance: running.id },
      body: { action: 'sleep' },
    });
    await converge(api, TENANT, 'asleep', (list) => list[0]?.status === 'sleeping', 120_000);

    const move = await api.call('moveInstance', {
      params: { tenant: TENANT, pool: POOL, instance: running.id },
      body: { node: target, wake: true },
    });
    const ended = await waitUntil(
      async () => {
        const m = await api.call('getMove', { params: { move: move.id } });
        return m.step === 'done' || m.step === 'failed' ? m : undefined;
      },
      { clock: systemClock, timeoutMs: 240_000, intervalMs: 500, what: `move ${move.id}` },
    );
    expect(ended).toMatchObject({ step: 'done', sourceNode: source, targetNode: target });
    const [moved] = await converge(
      api,
      TENANT,
      'running on the target',
      (list) => list[0]?.nodeId === target && list[0]?.status === 'running',
      150_000,
    );
    expect(moved).toMatchObject({ id: running.id, ip: running.ip, mac: running.mac });
    const local = await localOf(fleet(), target, running.id);
    expect(local).toMatchObject({ status: 'running', spec: { ip: running.ip, mac: running.mac } });
    await soleVmmIn(fleet(), target, local);
    const after = await fleet().agent(target).client.stats(ref(running));
    expect(after.guest?.ip).toBe(running.ip);
    expect(after.guest?.bootId).toBe(before.guest?.bootId);
    await waitUntil(
      async () => ((await fleet().agent(source).client.list()).length === 0 ? true : undefined),
      {
        clock: systemClock,
        timeoutMs: 60_000,
        intervalMs: 500,
        what: 'the source dropping its copy',
      },
    );
  }, 600_000);

  it('drains a node: its running guest sleeps, moves and runs on the other node into the same boot', async () => {
    const api = fleet().api;
    await api.call('scalePool', { params: { tenant: TENANT, pool: POOL }, body: { running: 2 } });
    const list = await converge(
      api,
      TENANT,
      'two running, one per node',
      (l) =>
        l.length === 2 && l.every((i) => i.status === 'running') && l[0]?.nodeId !== l[1]?.nodeId,
      150_000,
    );
    const drained = list[0]?.nodeId as NodeId;
    const other = NODE_IDS.find((n) => n !== drained) as NodeId;
    const leaving = list[0] as InstanceView;
    const before = await fleet().agent(drained).client.stats(ref(leaving));
    const result = await api.call('drainNode', { params: { node: drained } });
    expect(result.moves.map((m) => [m.instanceId, m.targetNode, m.wake])).toEqual([
      [leaving.id, other, true],
    ]);
    const after = await converge(
      api,
      TENANT,
      `everything running on ${other}`,
      (l) => l.length === 2 && l.every((i) => i.nodeId === other && i.status === 'running'),
      300_000,
    );
    expect(after.find((i) => i.id === leaving.id)).toMatchObject({
      ip: leaving.ip,
      mac: leaving.mac,
    });
    const stats = await fleet().agent(other).client.stats(ref(leaving));
    expect(stats.guest?.bootId).toBe(before.guest?.bootId);
    expect((await api.call('getNode', { params: { node: drained } })).status).toBe('cordoned');
    await waitUntil(
      async () => ((await fleet().agent(drained).client.list()).length === 0 ? true : undefined),
      {
        clock: systemClock,
        timeoutMs: 60_000,
        intervalMs: 500,
        what: `${drained} holding nothing`,
      },
    );
  }, 600_000);
});

/**
 * kill -9 at every lifecycle step (core/fault-points.ts). A real agent process in its node
 * namespace, following a real coordinator, runs one real QEMU guest (TCG). For each fault
 * point the agent is started with `MVM_FAULT=<point>`, the coordinator asks for the step, the
 * agent dies there (SIGKILL, said in its log), and an agent started without the fault must
 * converge: the instance at its desired status on the coordinator and on the node, exactly one
 * VMM when it should run and none otherwise, no tap, cgroup, jail, VM directory or snapshot
 * its record does not own, and a file written to the data disk before the kills still there.
 * One guest goes through every step in turn, so the whole run costs four cold boots.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { vmKey } from '../../src/agent/runtime/vm-key.ts';
import type { FaultPoint } from '../../src/core/fault-points.ts';
import { FAULT_POINTS } from '../../src/core/fault-points.ts';
import { dataDrive, readMarker, untilClean, writeMarker } from './support/fault-checks.ts';
import { fleetGate } from './support/fleet-gate.ts';
import { converge } from './support/fleet-probes.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';
import { useFleetLab } from './support/fleet-suite.ts';

const gate = ciSuiteGate('agent faults', [await fleetGate('agent faults (e2e)')]);

const NODE = 'node-a';
const TENANT = 'faults';
const POOL = 'web';
const MARKER = { file: '/fault-marker', text: 'written before the kills' };

type Desired = 'running' | 'warm' | 'sleeping' | 'stopped';
const counts: Record<Desired, { running: number; warm: number; sleeping: number }> = {
  running: { running: 1, warm: 0, sleeping: 0 },
  warm: { running: 0, warm: 1, sleeping: 0 },
  sleeping: { running: 0, warm: 0, sleeping: 1 },
  stopped: { running: 0, warm: 0, sleeping: 0 },
};

/** Each step: what is asked, and where the agent dies doing it (none: a plain step between). */
const SCENARIO: { to: Desired; fault?: FaultPoint }[] = [
  { to: 'running', fault: 'create.after-record' },
  { to: 'stopped' }, // the marker is written here, before every other kill
  { to: 'running', fault: 'start.after-drives' },
  { to: 'warm', fault: 'warm.after-pause' },
  { to: 'sleeping', fault: 'sleep.after-snapshot' },
  { to: 'running', fault: 'wake.after-restore' },
  { to: 'sleeping', fault: 'sleep.after-stop' },
  { to: 'running', fault: 'wake.after-resume' },
  { to: 'stopped', fault: 'stop.after-kill' },
  { to: 'running', fault: 'start.after-spawn' },
  { to: 'stopped' },
  { to: 'running', fault: 'start.before-ready' },
  { to: 'stopped' },
];

describe.runIf(gate.run)('an agent killed -9 at every lifecycle step', () => {
  // Killed agents restart slowly on a loaded host: the node must not be declared lost
  // meanwhile (that re-places the instance, a different story: node-partition.test.ts).
  const fleet = useFleetLab({
    name: 'agent faults',
    nodes: [NODE],
    tenant: TENANT,
    pool: POOL,
    timings: { nodeLostAfterMs: 600_000 },
    agents: false,
    logLines: 60,
  });
  let key = '';
  let instanceId = '';

  const agentLog = () => readFile(join(fleet().agentDir(NODE), 'agent.log'), 'utf8');

  /** Starts the agent with the fault armed, asks for the step, and waits for the kill. */
  const dieAt = async (fault: FaultPoint, ask: () => Promise<unknown>): Promise<void> => {
    await fleet().killAgent(NODE); // the idle agent of the step before, if any
    const agent = await fleet().startAgent(NODE, { MVM_FAULT: fault });
    await ask();
    const exit = await Promise.race([
      agent.process.exited,
      new Promise<'alive'>((done) => setTimeout(() => done('alive'), 150_000)),
    ]);
    await fleet().killAgent(NODE);
    expect(exit, `the agent must die at ${fault}`).not.toBe('alive');
    expect(await agentLog()).toContain(`mvm fault: SIGKILL at ${fault}`);
  };

  const settled = async (to: Desired) => {
    const [instance] = await converge(
      fleet().api,
      TENANT,
      `the instance ${to} again`,
      (list) => list.length === 1 && list[0]?.status === to && list[0].nodeId === NODE,
      150_000,
    );
    if (!instance) throw new Error('no instance');
    instanceId = instance.id;
    key = vmKey(TENANT, POOL, instance.id);
    // The node converges on the same: an agent pass may still be reporting.
    return untilClean(fleet(), NODE, TENANT, { key, status: to });
  };

  it('covers every fault point', () => {
    const covered = SCENARIO.flatMap((s) => (s.fault ? [s.fault] : []));
    expect([...covered, 'destroy.after-drives'].sort()).toEqual([...FAULT_POINTS].sort());
  });

  it('converges after each kill, losing nothing and leaving nothing behind', async () => {
    let markerWritten = false;
    for (const [index, step] of SCENARIO.entries()) {
      const ask = () =>
        fleet().api.call('scalePool', {
          params: { tenant: TENANT, pool: POOL },
          body: counts[step.to],
        });
      if (step.fault) await dieAt(step.fault, ask);
      else {
        if (!fleet().agents[NODE]) await fleet().startAgent(NODE);
        await ask();
      }
      if (!fleet().agents[NODE]) await fleet().startAgent(NODE);
      const record = await settled(step.to);
      expect(record?.instanceId, `step ${index} (${step.fault ?? step.to})`).toBe(instanceId);
      if (step.to !== 'stopped') continue;
      const drive = dataDrive(fleet(), NODE, key);
      if (!markerWritten) await writeMarker(drive, MARKER.file, MARKER.text);
      markerWritten = true;
      expect(await readMarker(drive, MARKER.file), `data disk after step ${index}`).toBe(
        MARKER.text,
      );
    }
    expect(markerWritten).toBe(true);

    await dieAt('destroy.after-drives', () =>
      fleet().api.call('destroyPool', {
        params: { tenant: TENANT, pool: POOL },
        query: { force: 'true' },
      }),
    );
    await fleet().startAgent(NODE);
    await converge(fleet().api, TENANT, 'the instance gone', (list) => list.length === 0);
    const empty = async () => (await fleet().agent(NODE).client.list()).length === 0;
    for (let i = 0; i < 100 && !(await empty()); i++) await new Promise((r) => setTimeout(r, 250));
    await untilClean(fleet(), NODE, TENANT, undefined);
  }, 1_200_000);
});

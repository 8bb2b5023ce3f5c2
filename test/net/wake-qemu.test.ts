/**
 * Wake on connect with real QEMU guests (TCG) and a real agent: the agent runs inside a node
 * namespace the test creates (support/wake-agent-node.ts), boots a target with service port
 * 8080 (busybox httpd) and a same-tenant client, and puts the target to sleep. A connection
 * from the client then succeeds on its first attempt and the target keeps its boot id (woken
 * from its snapshot, not rebooted); twenty at once give one wake and twenty answers; ping and
 * UDP wake nothing; a connection during a sleep is served after it, from its one snapshot;
 * after a kill -9 of the agent while the target sleeps, a restarted agent
 * re-arms the trap and a connection still wakes it; a snapshot cut in half gives the held
 * client an error well within the hold bound, and the target stays asleep with its trap armed.
 * (Another tenant's SYN, and a wake that never ends, are proven with a fake guest in
 * wake-on-connect.test.ts.) Every VMM, the woken one too, is
 * confined with its tap passed as a descriptor by mvm-tapfd (no CAP_NET_ADMIN).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortWorkDir } from '../support/qemu-guest.ts';
import { expectTapsInherited, qemuPidsUnder } from '../support/vmm-confinement.ts';
import type { AgentNode } from './support/agent-node-process.ts';
import { startAgentNode } from './support/agent-node-process.ts';
import { netGate, NetLab } from './support/net-lab.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('wake on connect with QEMU guests', [
  await netGate('wake on connect with QEMU guests'),
]);

const NODE = join(import.meta.dirname, 'support', 'wake-agent-node.ts');

interface TargetState {
  status: string;
  snapshots: number;
  wakes: number;
  bootId?: string;
}

describe.runIf(gate.run)('wake on connect with real QEMU guests', () => {
  let lab: NetLab;
  let workDir = '';
  let dataDir = '';
  let node = '';
  let agent: AgentNode | undefined;
  let bootId = '';

  async function startNode(): Promise<{ armed: boolean }> {
    const started = await startAgentNode(node, NODE, dataDir);
    agent = started.node;
    return started.up as { armed: boolean };
  }

  async function killNode(): Promise<void> {
    await agent?.kill();
    agent = undefined;
  }

  beforeAll(async () => {
    workDir = await shortWorkDir('wkq');
    dataDir = join(workDir, 'agent');
    lab = new NetLab(workDir);
    node = await lab.namespace('wkq');
  });

  afterAll(async () => {
    // The VMs go with their agent: a last agent destroys them, then the namespace goes.
    await killNode();
    if (node) {
      await startNode().catch(() => undefined);
      await agent?.ask('destroy', 120_000).catch(() => undefined);
      await killNode();
    }
    await lab?.cleanup();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }, 300_000);

  it('boots a target serving port 8080 and a client of its tenant, then sleeps the target', async () => {
    expect(await startNode()).toEqual(expect.objectContaining({ armed: true }));
    const booted = await agent!.ask<{ bootId: string; served: string }>('boot', 600_000);
    expect(booted.served).toBe('hello');
    bootId = booted.bootId;
    expect(bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await agent!.ask<TargetState>('sleep')).toMatchObject({ status: 'sleeping', wakes: 0 });
  }, 900_000);

  it('wakes nothing on a ping or a UDP datagram', async () => {
    const probed = await agent!.ask<TargetState & { ping: string }>('probe');
    expect(probed).toMatchObject({ ping: 'no', status: 'sleeping', wakes: 0, snapshots: 1 });
  }, 300_000);

  it('serves a connection on its first attempt by waking the target, which keeps its boot id', async () => {
    const first = await agent!.ask<TargetState & { answers: string[] }>('connect 1');
    expect(first.answers).toEqual(['hello']);
    expect(first).toMatchObject({ status: 'running', wakes: 1, bootId });
    // Every VMM, the woken one too, got its tap from mvm-tapfd: no CAP_NET_ADMIN anywhere.
    const vmms = await qemuPidsUnder(join(dataDir, 'vms'));
    expect(vmms).toHaveLength(2);
    for (const pid of vmms) expect(await expectTapsInherited(pid)).toHaveLength(1);
  }, 300_000);

  it('gives twenty parallel connections one wake and twenty answers', async () => {
    await agent!.ask('sleep');
    const all = await agent!.ask<TargetState & { answers: string[] }>('connect 20');
    expect(all.answers).toEqual(Array.from({ length: 20 }, () => 'hello'));
    // One more wake for twenty connections.
    expect(all).toMatchObject({ status: 'running', wakes: 2, bootId });
  }, 600_000);

  it('serves a connection that arrives during a sleep after it, from that sleep’s snapshot', async () => {
    const both = await agent!.ask<
      TargetState & { slept: string; during: string; answers: string[] }
    >('sleepconnect');
    // The sleep was under way (trap armed, VM still up) when the client connected; it finished
    // (one snapshot), then the held connection woke the target from that snapshot.
    expect(both).toMatchObject({ during: 'running', slept: 'sleeping', answers: ['hello'] });
    expect(both).toMatchObject({ status: 'running', wakes: 3, bootId });
  }, 600_000);

  it('re-arms after a kill -9 of the agent while the target sleeps', async () => {
    await agent!.ask('sleep');
    await killNode();
    expect(await startNode()).toEqual(expect.objectContaining({ armed: true }));
    const again = await agent!.ask<TargetState & { answers: string[] }>('connect 1');
    expect(again.answers, agent!.logTail()).toEqual(['hello']);
    expect(again).toMatchObject({ status: 'running', wakes: 1, bootId });
  }, 600_000);

  it('answers a held client with an error within the hold bound when the snapshot is corrupt', async () => {
    const cut = await agent!.ask<TargetState & { cut: number }>('corrupt');
    expect(cut).toMatchObject({ status: 'sleeping', snapshots: 1 });
    expect(cut.cut).toBeGreaterThan(0);
    const wakesBefore = cut.wakes;
    const started = Date.now();
    const held = await agent!.ask<TargetState & { answers: string[] }>('connect 1');
    const tookMs = Date.now() - started;
    // The wake failed on the cut state file: the held connection was reset (busybox wget
    // prints its error, then the script's "failed"), not served and not left hanging.
    expect(held.answers.join('\n'), agent!.logTail()).toMatch(/failed/);
    expect(held.answers).not.toContain('hello');
    expect(held).toMatchObject({ status: 'sleeping', wakes: wakesBefore + 1, snapshots: 1 });
    expect(tookMs, 'the error came within the hold bound (30 s), not after it').toBeLessThan(
      30_000,
    );
    // Still armed: the next connection is held and refused the same way, with one more wake.
    const again = await agent!.ask<TargetState & { answers: string[] }>('connect 1');
    expect(again.answers.join('\n')).toMatch(/failed/);
    expect(again).toMatchObject({ status: 'sleeping', wakes: wakesBefore + 2 });
  }, 300_000);
});

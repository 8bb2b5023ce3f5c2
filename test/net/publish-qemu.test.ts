/**
 * Published ports and sleep/wake hooks with a real QEMU guest (TCG) and a real agent inside a
 * node namespace (support/publish-agent-node.ts). The node forwards 127.0.0.1:18080 to the
 * guest's 8080: a connection to a sleeping guest wakes it from its snapshot (same boot id) and
 * is served, not dropped, as are parallel ones (one wake) and one to a warm guest. The pool's
 * beforeSleep hook runs before each sleep and, exiting 1, refuses it (the guest keeps running
 * and says why); afterWake runs after each wake, secretsReload only after a wake whose secrets
 * changed (it reads the new value).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortWorkDir } from '../support/qemu-guest.ts';
import type { AgentNode } from './support/agent-node-process.ts';
import { startAgentNode } from './support/agent-node-process.ts';
import { netGate, NetLab } from './support/net-lab.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('published ports with a QEMU guest', [
  await netGate('published ports with a QEMU guest'),
]);

const NODE = join(import.meta.dirname, 'support', 'publish-agent-node.ts');

interface State {
  status: string;
  wakes: number;
  bootId?: string;
  hooks?: string[];
  answers?: string[];
  refused?: string;
}

describe.runIf(gate.run)('published ports and hooks with a real QEMU guest', () => {
  let lab: NetLab;
  let workDir = '';
  let node = '';
  let agent: AgentNode | undefined;
  let bootId = '';

  async function startNode(): Promise<void> {
    const started = await startAgentNode(node, NODE, join(workDir, 'agent'));
    agent = started.node;
    expect(started.up).toEqual({ publishing: true });
  }

  async function killNode(): Promise<void> {
    await agent?.kill();
    agent = undefined;
  }

  beforeAll(async () => {
    workDir = await shortWorkDir('ocp');
    lab = new NetLab(workDir);
    node = await lab.namespace('ocpub');
  });

  afterAll(async () => {
    await killNode();
    if (node) {
      await startNode().catch(() => undefined);
      await agent?.ask('destroy', 120_000).catch(() => undefined);
      await killNode();
    }
    await lab?.cleanup();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }, 300_000);

  it('serves the guest on the published port of the node', async () => {
    await startNode();
    const booted = await agent!.ask<State>('boot', 600_000);
    expect(booted).toMatchObject({ answers: ['hello'], status: 'running', wakes: 0 });
    bootId = booted.bootId ?? '';
    expect(bootId).toMatch(/^[0-9a-f-]{36}$/);
  }, 900_000);

  it('refuses a sleep its beforeSleep hook refuses: the guest keeps running and says why', async () => {
    await agent!.ask<State>('busy');
    const refused = await agent!.ask<State>('sleep');
    expect(refused.refused).toMatch(/beforeSleep hook .* exited 1: busy/);
    expect(refused).toMatchObject({ status: 'running', bootId });
    expect(refused.hooks).toEqual([]);
    await agent!.ask<State>('idle');
  }, 300_000);

  it('wakes a sleeping guest for a connection and serves it, running the hooks around', async () => {
    const slept = await agent!.ask<State>('sleep');
    expect(slept).toMatchObject({ status: 'sleeping', wakes: 0 });
    const served = await agent!.ask<State>('fetch 1');
    expect(served).toMatchObject({ answers: ['hello'], status: 'running', wakes: 1, bootId });
    // Secrets unchanged: no reload.
    expect(served.hooks).toEqual(['suspended', 'resumed']);
  }, 600_000);

  it('gives parallel connections to a sleeping guest one wake, and reloads rotated secrets', async () => {
    await agent!.ask<State>('rotate two');
    expect(await agent!.ask<State>('sleep')).toMatchObject({ status: 'sleeping' });
    const all = await agent!.ask<State>('fetch 8');
    expect(all.answers).toEqual(Array.from({ length: 8 }, () => 'hello'));
    expect(all).toMatchObject({ status: 'running', wakes: 2, bootId });
    expect(all.hooks).toEqual(['suspended', 'resumed', 'suspended', 'reload two', 'resumed']);
  }, 600_000);

  it('resumes a warm guest for a connection', async () => {
    expect(await agent!.ask<State>('warm')).toMatchObject({ status: 'warm' });
    const served = await agent!.ask<State>('fetch 1');
    expect(served).toMatchObject({ answers: ['hello'], status: 'running', wakes: 3, bootId });
  }, 300_000);
});

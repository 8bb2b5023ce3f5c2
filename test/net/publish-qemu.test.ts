/**
 * Published ports and sleep/wake hooks with a real QEMU guest (TCG) and a real agent inside a
 * node namespace (support/publish-agent-node.ts). The node forwards 127.0.0.1:18080 to the
 * guest's 8080: a connection to a sleeping guest wakes it from its snapshot (same boot id) and
 * is served, not dropped, as are parallel ones (one wake) and one to a warm guest. The pool's
 * beforeSleep hook runs before each sleep and, exiting 1, refuses it (the guest keeps running
 * and says why); afterWake runs after each wake, secretsReload only after a wake whose secrets
 * changed (it reads the new value).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realGuestGate, shortWorkDir } from '../support/qemu-guest.ts';
import { netGate, NetLab } from './support/net-lab.ts';

const netOk = await netGate('published ports with a QEMU guest');
const qemu = await realGuestGate('published ports with a QEMU guest');
if (netOk.failInCi || qemu.failInCi) {
  describe('published ports with a QEMU guest (CI)', () => {
    it('needs root, iproute2, nft, busybox and qemu in CI', () => {
      throw new Error('the QEMU published-ports test cannot run on this CI runner');
    });
  });
}

const NODE = join(import.meta.dirname, 'support', 'publish-agent-node.ts');

interface State {
  status: string;
  wakes: number;
  bootId?: string;
  hooks?: string[];
  answers?: string[];
  refused?: string;
}

class AgentNode {
  private readonly lines: string[] = [];
  private waiter: ((line: string) => void) | undefined;
  readonly exited: Promise<void>;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!/^(ok|err|up) /.test(line)) return;
      if (this.waiter) this.waiter(line);
      else this.lines.push(line);
    });
    child.stderr.resume();
    this.exited = new Promise((done) => child.once('exit', () => done()));
  }

  next(timeoutMs: number): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the agent node did not answer')), timeoutMs);
      this.waiter = (line) => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(line);
      };
    });
  }

  async ask(command: string, timeoutMs = 300_000): Promise<State> {
    this.child.stdin.write(`${command}\n`);
    const line = await this.next(timeoutMs);
    if (!line.startsWith('ok ')) throw new Error(`${command}: ${line}`);
    return JSON.parse(line.slice(3)) as State;
  }
}

describe.runIf(netOk.run && qemu.run)('published ports and hooks with a real QEMU guest', () => {
  let lab: NetLab;
  let workDir = '';
  let node = '';
  let agent: AgentNode | undefined;
  let bootId = '';

  async function startNode(): Promise<void> {
    const args = [
      'netns',
      'exec',
      node,
      process.execPath,
      '--import',
      'tsx',
      NODE,
      join(workDir, 'agent'),
    ];
    agent = new AgentNode(spawn('ip', args, { stdio: 'pipe' }));
    const up = await agent.next(120_000);
    if (!up.startsWith('up ')) throw new Error(`agent node: ${up}`);
    expect(JSON.parse(up.slice(3))).toEqual({ publishing: true });
  }

  async function killNode(): Promise<void> {
    if (!agent) return;
    agent.child.kill('SIGKILL');
    await agent.exited;
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
    const booted = await agent!.ask('boot', 600_000);
    expect(booted).toMatchObject({ answers: ['hello'], status: 'running', wakes: 0 });
    bootId = booted.bootId ?? '';
    expect(bootId).toMatch(/^[0-9a-f-]{36}$/);
  }, 900_000);

  it('refuses a sleep its beforeSleep hook refuses: the guest keeps running and says why', async () => {
    await agent!.ask('busy');
    const refused = await agent!.ask('sleep');
    expect(refused.refused).toMatch(/beforeSleep hook .* exited 1: busy/);
    expect(refused).toMatchObject({ status: 'running', bootId });
    expect(refused.hooks).toEqual([]);
    await agent!.ask('idle');
  }, 300_000);

  it('wakes a sleeping guest for a connection and serves it, running the hooks around', async () => {
    const slept = await agent!.ask('sleep');
    expect(slept).toMatchObject({ status: 'sleeping', wakes: 0 });
    const served = await agent!.ask('fetch 1');
    expect(served).toMatchObject({ answers: ['hello'], status: 'running', wakes: 1, bootId });
    // Secrets unchanged: no reload.
    expect(served.hooks).toEqual(['suspended', 'resumed']);
  }, 600_000);

  it('gives parallel connections to a sleeping guest one wake, and reloads rotated secrets', async () => {
    await agent!.ask('rotate two');
    expect(await agent!.ask('sleep')).toMatchObject({ status: 'sleeping' });
    const all = await agent!.ask('fetch 8');
    expect(all.answers).toEqual(Array.from({ length: 8 }, () => 'hello'));
    expect(all).toMatchObject({ status: 'running', wakes: 2, bootId });
    expect(all.hooks).toEqual(['suspended', 'resumed', 'suspended', 'reload two', 'resumed']);
  }, 600_000);

  it('resumes a warm guest for a connection', async () => {
    expect(await agent!.ask('warm')).toMatchObject({ status: 'warm' });
    const served = await agent!.ask('fetch 1');
    expect(served).toMatchObject({ answers: ['hello'], status: 'running', wakes: 3, bootId });
  }, 300_000);
});

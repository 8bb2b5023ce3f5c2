/**
 * Wake-on-connect's network mechanics with real nftables, bridges and ARP in namespaces the
 * test creates: a node namespace with two tenant bridges, a fake guest (a namespace whose link
 * is down while "asleep", whose echo server starts on "wake"), a client of the same tenant and
 * one of another tenant. The node side (trap + holding listeners) runs in the node namespace
 * (support/holding-node.ts) and asks this test to wake the guest.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netGate, NetLab } from './support/net-lab.ts';

const gate = await netGate('wake-on-connect');
const HOLDING = join(import.meta.dirname, 'support', 'holding-node.ts');

/** One holding process in the node namespace: its wake requests and answers, line by line. */
class HoldingNode {
  readonly wakes: string[] = [];
  private readonly waiters: Array<{ prefix: string; resolve: (line: string) => void }> = [];

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('wake ')) this.wakes.push(line.slice(5));
      const i = this.waiters.findIndex((w) => line.startsWith(w.prefix));
      if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(line);
    });
    child.stderr.resume();
  }

  next(prefix: string, timeoutMs = 15_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${prefix}' line`)), timeoutMs);
      this.waiters.push({
        prefix,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  say(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  async dropped(): Promise<number> {
    const line = this.next('dropped ');
    this.say('dropped');
    return Number((await line).split(' ')[1]);
  }
}

/** N connections at once from inside `ns`, each reading what the server says: JSON of answers. */
const MANY = `
const net = require('node:net');
const [ip, port, n, timeoutMs] = process.argv.slice(1);
const one = () => new Promise((resolve) => {
  let text = '';
  const s = net.connect({ host: ip, port: Number(port) });
  s.setTimeout(Number(timeoutMs), () => { s.destroy(); resolve('timeout'); });
  s.on('data', (d) => (text += d));
  s.on('end', () => resolve(text.trim()));
  s.on('error', (e) => resolve('error ' + e.code));
});
Promise.all(Array.from({ length: Number(n) }, one)).then((all) => console.log(JSON.stringify(all)));
`;

describe.skipIf(!gate.run)('wake-on-connect in namespaces', () => {
  let lab: NetLab;
  let logDir = '';
  let node = '';
  let guest = '';
  let client = '';
  let other = '';
  const holders: HoldingNode[] = [];

  async function holding(ip: string, holdMs: number): Promise<HoldingNode> {
    const config = JSON.stringify({ bridge: 'mvb77', ip, ports: [8080], holdMs });
    const args = ['netns', 'exec', node, process.execPath, '--import', 'tsx', HOLDING, config];
    const holder = new HoldingNode(spawn('ip', args, { stdio: 'pipe' }));
    holders.push(holder);
    await holder.next('listening');
    return holder;
  }

  function connectMany(ns: string, ip: string, n: number, timeoutMs: number) {
    const args = ['netns', 'exec', ns, process.execPath, '-e', MANY, ip, '8080', String(n)];
    const child = spawn('ip', [...args, String(timeoutMs)], { stdio: 'pipe' });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    return new Promise<string[]>((resolve) =>
      child.on('exit', () => resolve(JSON.parse(out || '[]') as string[])),
    );
  }

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'mvm-wake-'));
    lab = new NetLab(logDir);
    node = await lab.namespace('wn');
    for (const [bridge, cidr] of [
      ['mvb77', '10.77.0.1/24'],
      ['mvb78', '10.78.0.1/24'],
    ] as const) {
      await lab.ip(node, ['link', 'add', bridge, 'type', 'bridge']);
      await lab.ip(node, ['addr', 'add', cidr, 'dev', bridge]);
      await lab.ip(node, ['link', 'set', bridge, 'up']);
    }
    const mac = (n: number) => `02:00:0a:4d:00:0${n}`;
    guest = await lab.guest(node, 'wg', {
      tap: 'mvt77-2',
      ip: '10.77.0.2',
      mac: mac(2),
      gateway: '10.77.0.1',
    });
    client = await lab.guest(node, 'wc', {
      tap: 'mvt77-3',
      ip: '10.77.0.3',
      mac: mac(3),
      gateway: '10.77.0.1',
    });
    other = await lab.guest(node, 'wo', {
      tap: 'mvt78-3',
      ip: '10.78.0.3',
      mac: mac(4),
      gateway: '10.78.0.1',
    });
    for (const [tap, bridge] of [
      ['mvt77-2', 'mvb77'],
      ['mvt77-3', 'mvb77'],
      ['mvt78-3', 'mvb78'],
    ] as const) {
      await lab.ip(node, ['link', 'set', tap, 'master', bridge, 'up']);
    }
    // Asleep: the guest answers nothing, not even ARP.
    await lab.ip(guest, ['link', 'set', 'eth0', 'down']);
  }, 60_000);

  afterAll(async () => {
    for (const holder of holders) holder.child.kill('SIGKILL');
    await lab.cleanup();
    await rm(logDir, { recursive: true, force: true });
  });

  it('wakes nothing on ping, UDP, a SYN to an unserved port, or another tenant’s SYN', async () => {
    const holder = await holding('10.77.0.2', 20_000);
    expect(await lab.ping(client, '10.77.0.2')).toBe(false);
    expect(await lab.probe(client, 'udp', '10.77.0.2', 8080)).toBeUndefined();
    expect(await lab.probe(client, 'tcp', '10.77.0.2', 9999)).toBeUndefined();
    expect(await holder.dropped()).toBeGreaterThanOrEqual(1);
    expect(await lab.probe(other, 'tcp', '10.77.0.2', 8080)).toBeUndefined();
    expect(holder.wakes).toEqual([]);
  }, 60_000);

  it('holds twenty parallel connections through one wake and answers all of them', async () => {
    const holder = holders[0];
    if (!holder) throw new Error('the first test arms the trap');
    const asked = holder.next('wake ');
    const answers = connectMany(client, '10.77.0.2', 20, 15_000);
    const wake = JSON.parse((await asked).slice(5)) as Record<string, unknown>;
    expect(wake).toMatchObject({ key: 'guest', kind: 'connect', port: 8080, from: '10.77.0.3' });
    // The wake: the guest's link comes up and its service starts.
    await lab.ip(guest, ['link', 'set', 'eth0', 'up']);
    await lab.serve(guest, 'guest-a', 8080);
    holder.say('woken');
    const all = await answers;
    expect(all).toHaveLength(20);
    // Spliced by the node: the guest sees the connections come from its bridge address.
    expect(new Set(all)).toEqual(new Set(['guest-a 10.77.0.1']));
    expect(holder.wakes).toHaveLength(1);
    // Disarmed: a new connection goes straight to the guest, from the client's own address.
    expect(await lab.probe(client, 'tcp', '10.77.0.2', 8080)).toBe('guest-a 10.77.0.3');
    expect(holder.wakes).toHaveLength(1);
  }, 60_000);

  it('resets a connection at once, waking nothing, while the instance moves to another node', async () => {
    // A long hold: were the connection held for a wake that never comes, the client would time out.
    const holder = await holding('10.77.0.7', 30_000);
    const marked = holder.next('leaving');
    holder.say('leaving');
    await marked;
    const [answer] = await connectMany(client, '10.77.0.7', 1, 10_000);
    expect(answer).toMatch(/^error ECONNRESET|^$/);
    expect(holder.wakes).toEqual([]);
    const refused = holder.next('refused ');
    holder.say('refused');
    expect(await refused).toBe('refused 1');
  }, 60_000);

  it('resets a held connection when the wake does not finish within the hold bound', async () => {
    const holder = await holding('10.77.0.9', 1_500);
    const started = Date.now();
    const [answer] = await connectMany(client, '10.77.0.9', 1, 10_000);
    const elapsed = Date.now() - started;
    expect(holder.wakes).toHaveLength(1);
    expect(answer).toMatch(/^error ECONNRESET|^$/);
    expect(elapsed).toBeGreaterThanOrEqual(1_400);
    expect(elapsed).toBeLessThan(5_000);
  }, 60_000);
});

/**
 * The wake trap's holding listeners for an agent whose tenant networks live in a namespace of
 * their own (`agent.netns`): the agent's process stays in the host's namespace, so a helper
 * inside the namespace binds each listening socket and hands it over (netns-listener.ts), and
 * the woken guest is dialed through the namespace's dialer. A real namespace: the socket
 * accepts connections made inside it, not on the host's loopback; a held connection made
 * inside it wakes once and is spliced to a service only the namespace reaches. The whole
 * path with real QEMU guests: wake-netns-qemu.test.ts.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNetnsDialer, type NetnsDialer } from '../../src/agent/netns-dial/netns-dialer.ts';
import { netnsListener, type NetnsListener } from '../../src/agent/netns-dial/netns-listener.ts';
import { HoldingListeners } from '../../src/agent/wake/holding-listener.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import type { SpawnedProcess } from '../../src/ports/process-runner.ts';
import { quietLogger } from '../agent/agent-harness.ts';
import { until } from '../support/until.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';

const gate = ciSuiteGate('holding listeners in an agent netns', [
  await netGate('holding listeners in an agent netns'),
]);

const ANSWER = 'served inside the namespace';
const SERVICE = `require('node:net').createServer((s) => s.on('error', () => {}).end(${JSON.stringify(ANSWER)})).listen(Number(process.argv[1]), '127.0.0.1')`;
/** A client inside the namespace: prints what it read, or `error <code>`. */
const CLIENT = `const s = require('node:net').connect(Number(process.argv[1]), '127.0.0.1'); let d = ''; s.on('data', (c) => (d += c)); s.on('end', () => console.log(d)); s.on('error', (e) => console.log('error ' + e.code))`;

/** This process's listener helpers (children whose command line names listener-main). */
async function helperPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (parent !== process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('listener-main')) pids.push(Number(entry));
  }
  return pids;
}

const readAll = (socket: Socket): Promise<string> =>
  new Promise((done) => {
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('end', () => done(data));
    socket.on('error', (error: NodeJS.ErrnoException) => done(`error ${error.code ?? ''}`));
  });

describe.runIf(gate.run)('holding listeners of an agent in its own network namespace', () => {
  let dir = '';
  let lab: NetLab | undefined;
  let ns = '';
  let service: SpawnedProcess | undefined;
  let dialer: NetnsDialer | undefined;
  let listener: NetnsListener | undefined;
  const servicePort = 18000 + (process.pid % 1000);

  const clientIn = async (port: number, n = 1): Promise<string[]> => {
    const runs = Array.from({ length: n }, () =>
      lab!.exec(ns, process.execPath, ['-e', CLIENT, String(port)]),
    );
    return (await Promise.all(runs)).map((r) => r.stdout.trim());
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-nns-'));
    lab = new NetLab(dir);
    ns = await lab.namespace('nnswake');
    service = runner.spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, '-e', SERVICE, String(servicePort)],
      {
        logFile: join(dir, 'service.log'),
      },
    );
    dialer = await startNetnsDialer({
      netns: ns,
      dataDir: dir,
      runner,
      clock: systemClock,
      logger: quietLogger,
    });
    listener = netnsListener({ netns: ns, logger: quietLogger });
  }, 60_000);

  afterAll(async () => {
    await listener?.close();
    await dialer?.close();
    service?.kill('SIGKILL');
    await lab?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('binds a listening socket inside the namespace and hands it to this process', async () => {
    const server: Server = await listener!.listen('127.0.0.1');
    try {
      server.on('connection', (socket: Socket) => socket.end('accepted here'));
      const { port } = server.address() as AddressInfo;
      expect(port).toBeGreaterThan(0);
      // The host's loopback has nothing on that port: the socket is the namespace's.
      expect(await readAll(connect({ host: '127.0.0.1', port }))).toBe('error ECONNREFUSED');
      expect(await clientIn(port)).toEqual(['accepted here']);
    } finally {
      server.close();
    }
    await expect(listener!.listen('not-an-address')).rejects.toThrow(/bad listen address/);
  }, 60_000);

  it('keeps handed-over sockets when the helper dies, and starts a new helper for the next', async () => {
    const before = await listener!.listen('0.0.0.0');
    try {
      before.on('connection', (socket: Socket) => socket.end('still here'));
      const helpers = await helperPids();
      expect(helpers).toHaveLength(1);
      process.kill(helpers[0]!, 'SIGKILL');
      await until('the helper to end', async () => (await helperPids()).length === 0 || undefined);
      expect(await clientIn((before.address() as AddressInfo).port)).toEqual(['still here']);
      const after = await listener!.listen('0.0.0.0');
      after.close();
      const again = await helperPids();
      expect(again).toHaveLength(1);
      expect(again[0]).not.toBe(helpers[0]);
    } finally {
      before.close();
    }
  }, 60_000);

  it('holds connections made inside the namespace, wakes once, splices them to the service', async () => {
    const wakes: string[] = [];
    const holding = new HoldingListeners({
      holdMs: 10_000,
      listen: listener!.listen,
      dial: dialer!.dial,
      wake: async (key, trigger) => {
        wakes.push(`${key} ${trigger.port} ${trigger.from}`);
        await systemClock.sleep(300); // the wake takes a while: every client is held meanwhile
      },
    });
    try {
      const port = await holding.arm({ key: 'acme-web-t', ip: '127.0.0.1', port: servicePort });
      expect(await clientIn(port, 5)).toEqual(Array.from({ length: 5 }, () => ANSWER));
      expect(wakes).toEqual([`acme-web-t ${servicePort} 127.0.0.1`]);
      expect(holding.wakeCount).toBe(1);
    } finally {
      holding.close();
    }
  }, 60_000);
});

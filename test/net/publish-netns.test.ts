/**
 * Published ports of an agent whose tenant networks live in a network namespace of their own
 * (`agent.netns`): the agent's process stays in the host's namespace, where the guests'
 * addresses are not reachable, so it dials them through a dialer process inside the
 * namespace (agent/netns-dial). A real namespace: its service listens on the namespace's own
 * loopback, which the host cannot reach directly; through the dialer and through a published
 * port it answers. The real guest path with a host-namespace agent: publish-qemu.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltRuntime } from '../../src/agent/build-runtime.ts';
import { startNetnsDialer, type NetnsDialer } from '../../src/agent/netns-dial/netns-dialer.ts';
import { startPublish } from '../../src/agent/publish/start-publish.ts';
import { DEFAULT_TIMEOUTS } from '../../src/agent/runtime/deps.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import type { SpawnedProcess } from '../../src/ports/process-runner.ts';
import { quietLogger } from '../agent/agent-harness.ts';
import { NetLab, netGate, runner } from './support/net-lab.ts';
import { ciSuiteGate } from '../support/qemu-gate.ts';
import { freePort } from '../support/free-port.ts';

const gate = ciSuiteGate('published ports through an agent netns', [
  await netGate('published ports through an agent netns'),
]);

const ANSWER = 'hello from inside the namespace';
const SERVER = `require('node:net').createServer((s) => s.on('error', () => {}).end(${JSON.stringify(ANSWER)})).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('up'))`;

const readAll = (socket: Socket): Promise<string> =>
  new Promise((done) => {
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('end', () => done(data));
    socket.on('error', (error) => done(`error: ${error.message}`));
    socket.resume(); // a dialed socket comes paused (GuestDial)
  });

describe.runIf(gate.run)('published ports of an agent in its own network namespace', () => {
  let dir = '';
  let lab: NetLab | undefined;
  let ns = '';
  let server: SpawnedProcess | undefined;
  let dialer: NetnsDialer | undefined;
  let port = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-pubns-'));
    lab = new NetLab(dir);
    ns = await lab.namespace('pubns');
    port = await freePort();
    server = runner.spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, '-e', SERVER, String(port)],
      {
        logFile: join(dir, 'server.log'),
      },
    );
    for (let i = 0; i < 100; i++) {
      const up = await lab.exec(ns, process.execPath, [
        '-e',
        `require('node:net').connect(${port}, '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))`,
      ]);
      if (up.exitCode === 0) break;
      await systemClock.sleep(100);
    }
    dialer = await startNetnsDialer({
      netns: ns,
      dataDir: dir,
      runner,
      clock: systemClock,
      logger: quietLogger,
    });
  }, 60_000);

  afterAll(async () => {
    await dialer?.close();
    server?.kill('SIGKILL');
    await lab?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reaches what only the namespace reaches, and says why it cannot', async () => {
    // The host's own loopback has nothing there: the service is the namespace's.
    const direct = await readAll(connect({ host: '127.0.0.1', port }));
    expect(direct).toMatch(/^error: .*ECONNREFUSED/);
    expect(await readAll(await dialer!.dial('127.0.0.1', port))).toBe(ANSWER);
    const closed = await freePort();
    await expect(dialer!.dial('127.0.0.1', closed)).rejects.toThrow(/ECONNREFUSED/);
    await expect(dialer!.dial('127.0.0.1.9', 80)).rejects.toThrow(/bad request/);
  });

  it("forwards a published host port to a guest address inside the agent's namespace", async () => {
    const hostPort = await freePort();
    const record = {
      key: 'acme-web-i1',
      tenantId: 'acme',
      poolId: 'web',
      instanceId: 'i1',
      status: 'running',
      spec: { ip: '127.0.0.1', publish: [{ hostPort, guestPort: port }] },
    } as unknown as VmRecord;
    const runtime = { list: () => Promise.resolve([record]) };
    const deps = { network: {}, timeouts: DEFAULT_TIMEOUTS, clock: systemClock };
    const handle = await startPublish({ runtime, deps } as unknown as BuiltRuntime, {
      logger: quietLogger,
      netns: ns,
      address: '127.0.0.1',
      coordinator: undefined,
      runner,
      dataDir: join(dir, 'agent'),
    });
    try {
      expect(handle).toBeDefined();
      const deadline = Date.now() + 10_000;
      while (!(handle?.proxy.ports() ?? []).includes(hostPort)) {
        if (Date.now() > deadline) throw new Error('the published port did not open');
        await systemClock.sleep(20);
      }
      expect(await readAll(connect({ host: '127.0.0.1', port: hostPort }))).toBe(ANSWER);
    } finally {
      await handle?.close();
    }
  }, 60_000);
});

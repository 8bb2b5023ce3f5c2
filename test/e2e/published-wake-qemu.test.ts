/**
 * A published wake end to end (issue 16 item 2; docs/published-ports.md): a real coordinator,
 * a real agent started with `--netns` (its tenant network, VMMs and wake trap in a namespace
 * of this test's; its published ports on the host's loopback) and a real QEMU guest (TCG,
 * busybox httpd on 8080). The pool publishes 8080 and declares it a service port with an
 * idle sleep: the node's heartbeats say it wakes on connect, so the coordinator's idle policy
 * puts the guest to sleep by itself. A client then connects to the published port: the guest
 * wakes from its snapshot (same boot id) and answers that first connection, and the
 * coordinator shows the wake: the instance's desired status is raised to running and the
 * audit log holds `instance.wake-on-connect` naming the trigger, port and source.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceView } from '../../src/contract/resources.ts';
import { NetLab, netGate } from '../net/support/net-lab.ts';
import { until } from '../support/until.ts';
import { startLinkedWorld, type LinkedWorld } from './support/linked-world.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';
import { freePort } from '../support/free-port.ts';

const gate = await qemuSuiteGate('a published wake through the coordinator', [
  await netGate('a published wake through the coordinator (e2e)'),
]);

const MINUTES = 60_000;

/** One HTTP GET over a fresh connection to the published port: the body, or `error …`. */
function fetchOnce(port: number): Promise<string> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    socket.on('connect', () => socket.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n'));
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('end', () => done(data.split('\r\n\r\n').slice(1).join('\r\n\r\n').trim()));
    socket.on('error', (error: NodeJS.ErrnoException) => done(`error ${error.code ?? ''}`));
  });
}

describe.runIf(gate.run)('a published wake through the coordinator', () => {
  let dir = '';
  let lab: NetLab | undefined;
  let world: LinkedWorld | undefined;
  let hostPort = 0;
  let bootId = '';
  const w = (): LinkedWorld => {
    if (!world) throw new Error('the world did not start (see beforeAll)');
    return world;
  };
  const web = async (): Promise<InstanceView> => {
    const [one] = await w().instances('acme');
    if (!one) throw new Error('acme has no instance');
    return one;
  };
  const story = async () =>
    JSON.stringify(
      {
        acme: (await w().instances('acme')).map((i) => `${i.id} ${i.status}/${i.desiredStatus}`),
        agent: await w().agentProblems(),
      },
      null,
      1,
    );
  const inGuest = async (script: string): Promise<string> =>
    w().ok(['instance', 'exec', `acme/web/${(await web()).id}`, '--', 'sh', '-c', script]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-nnspub-'));
    lab = new NetLab(dir);
    const netns = await lab.namespace('nnspub');
    hostPort = await freePort();
    world = await startLinkedWorld(dir, { netns });
    const { api } = w();
    await api.call('createTenant', { body: { id: 'acme' } });
    await api.call('createPool', {
      params: { tenant: 'acme' },
      body: {
        id: 'web',
        role: 'worker',
        vcpus: 1,
        memMib: 256,
        dataDiskMib: 16,
        servicePorts: [8080],
        publish: [{ hostPort, guestPort: 8080 }],
        idleSleepAfterSecs: 5,
      },
    });
    await w().ok(['pool', 'scale', 'acme/web', '--running', '1']);
    try {
      await until(
        'the guest running',
        async () => (await web()).status === 'running' || undefined,
        15 * MINUTES,
        1_000,
      );
    } catch (error) {
      throw new Error(`${String(error)}\n${await story()}`);
    }
  }, 20 * MINUTES);

  afterAll(async () => {
    await world?.close();
    await lab?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 5 * MINUTES);

  it(
    'serves the guest through the published port while it runs',
    async () => {
      await inGuest(
        'mkdir -p /tmp/www && echo hello > /tmp/www/index.html && httpd -p 8080 -h /tmp/www',
      );
      bootId = (await inGuest('cat /proc/sys/kernel/random/boot_id')).trim();
      expect(bootId).toMatch(/^[0-9a-f-]{36}$/);
      expect(await fetchOnce(hostPort)).toBe('hello');
    },
    5 * MINUTES,
  );

  it(
    'is put to sleep by the idle policy, since its node wakes on connect',
    async () => {
      // The coordinator lowers a pool with service ports only on a node whose heartbeats say
      // it wakes on connect: an agent with --netns says so now.
      try {
        await until(
          'the idle policy to sleep the guest',
          async () => (await web()).status === 'sleeping' || undefined,
          10 * MINUTES,
          1_000,
        );
      } catch (error) {
        throw new Error(`${String(error)}\n${await story()}`);
      }
      const events = await w().api.call('listEvents', { query: { tenant: 'acme', last: 100 } });
      expect(events.map((e) => e.action)).toContain('instance.idle-sleep');
    },
    12 * MINUTES,
  );

  it(
    'wakes on a connection to the published port, answers it, and the coordinator shows the wake',
    async () => {
      const sleeping = await web();
      expect(sleeping).toMatchObject({ status: 'sleeping', desiredStatus: 'sleeping' });
      // The first connection, no retry: held while the guest wakes, then answered.
      expect(await fetchOnce(hostPort)).toBe('hello');
      const woken = await until(
        'the coordinator to show the wake',
        async () => {
          const now = await web();
          return now.status === 'running' && now.desiredStatus === 'running' ? now : undefined;
        },
        5 * MINUTES,
        500,
      );
      expect(woken.id).toBe(sleeping.id);
      const events = await w().api.call('listEvents', { query: { tenant: 'acme', last: 100 } });
      const wake = events.find((e) => e.action === 'instance.wake-on-connect');
      expect(wake, await story()).toMatchObject({
        actor: 'node:n1',
        target: `acme/web/${sleeping.id}`,
        detail: { trigger: 'connect', port: 8080, source: 'node', from: 'sleeping', to: 'running' },
      });
      // Woken from its snapshot, not booted again.
      expect((await inGuest('cat /proc/sys/kernel/random/boot_id')).trim()).toBe(bootId);
    },
    10 * MINUTES,
  );
});

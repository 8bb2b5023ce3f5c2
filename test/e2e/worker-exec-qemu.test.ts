/**
 * Worker exec with real QEMU guests (docs/openclaw.md, "Worker exec"; issue 13 item 3): a real
 * coordinator, a real agent with `MVM_WORKER_EXEC=on` (QEMU under TCG, busybox dev images) and
 * the CLI. A command inside a gateway-role guest, `/mvm/bin/mvm-worker exec`, runs in a worker
 * of the gateway's tenant, through the agent's relay of the guest's broker and the
 * coordinator's exec session: its output names the worker's hostname, its stdin and exit code
 * come through, the same key lands on the same worker, a sleeping worker is woken; a target in
 * another tenant is refused and that tenant's worker sees nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceView } from '../../src/contract/resources.ts';
import { until } from '../support/until.ts';
import { startLinkedWorld, type LinkedWorld } from './support/linked-world.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('worker exec from a gateway guest');

const MINUTES = 60_000;
const WORKER = '/mvm/bin/mvm-worker';

describe.runIf(gate.run)('worker exec from a gateway guest', () => {
  let dir: string;
  let world: LinkedWorld | undefined;
  const w = (): LinkedWorld => {
    if (!world) throw new Error('the world did not start (see beforeAll)');
    return world;
  };
  const story = async () =>
    JSON.stringify(
      {
        acme: (await w().instances('acme')).map((i) => `${i.poolId}/${i.id} ${i.status}`),
        evil: (await w().instances('evil')).map((i) => `${i.poolId}/${i.id} ${i.status}`),
        agent: await w().agentProblems(),
      },
      null,
      1,
    );
  const one = async (tenant: string, pool: string): Promise<InstanceView> => {
    const found = (await w().instances(tenant)).filter((i) => i.poolId === pool);
    if (found.length !== 1 || !found[0]) throw new Error(`expected one ${tenant}/${pool}`);
    return found[0];
  };
  const allRunning = async () => {
    const all = [...(await w().instances('acme')), ...(await w().instances('evil'))];
    return all.length === 3 && all.every((i) => i.status === 'running') ? true : undefined;
  };
  /** Runs `argv` inside the gateway guest through the ordinary exec session. */
  const inGateway = async (argv: string[], stdin?: string) => {
    const gw = await one('acme', 'gw');
    return w().mvm(
      ['instance', 'exec', `acme/gw/${gw.id}`, '--', ...argv],
      stdin !== undefined ? { stdin: Readable.from([Buffer.from(stdin)]) } : {},
    );
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-sandbox-wx-'));
    world = await startLinkedWorld(dir, { agentEnv: { MVM_WORKER_EXEC: 'on' } });
    const { api } = w();
    for (const tenant of ['acme', 'evil']) await api.call('createTenant', { body: { id: tenant } });
    const pool = (tenant: string, id: string, role: 'gateway' | 'worker') =>
      api.call('createPool', {
        params: { tenant },
        body: { id, role, vcpus: 1, memMib: 256, dataDiskMib: 16 },
      });
    await pool('acme', 'gw', 'gateway');
    await pool('acme', 'workers', 'worker');
    await pool('evil', 'workers', 'worker');
    for (const path of ['acme/gw', 'acme/workers', 'evil/workers'])
      await w().ok(['pool', 'scale', path, '--running', '1']);
    try {
      await until('three guests running', allRunning, 20 * MINUTES, 1_000);
    } catch (error) {
      throw new Error(`${String(error)}\n${await story()}`);
    }
  }, 25 * MINUTES);
  afterAll(async () => {
    await world?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 5 * MINUTES);

  it(
    "a gateway's command runs in its tenant's worker: hostname, stdin, exit code",
    async () => {
      const gw = await one('acme', 'gw');
      const worker = await one('acme', 'workers');
      // The broker starts within a couple of seconds of the gateway running: retry until then.
      const run = await until(
        'the gateway guest to reach a worker',
        async () => {
          const r = await inGateway([
            WORKER,
            'exec',
            '--worker',
            'agent:main:main',
            '--',
            'hostname',
          ]);
          return r.code === 0 ? r : undefined;
        },
        5 * MINUTES,
        2_000,
      ).catch(async (error: unknown) => {
        throw new Error(`${String(error)}\n${await story()}`);
      });
      expect(run.stdout.toString().trim()).toBe(worker.id);
      expect(worker.id).not.toBe(gw.id);
      // The gateway's own hostname, for contrast: the command above did not run there.
      const own = await inGateway(['hostname']);
      expect(own.stdout.toString().trim()).toBe(gw.id);

      const piped = await inGateway(
        [WORKER, 'exec', '--', '/bin/sh', '-c', 'cat; echo oops >&2; exit 3'],
        'hello from the gateway\n',
      );
      expect(piped.stdout.toString()).toBe('hello from the gateway\n');
      expect(piped.stderr).toContain('oops');
      expect(piped.code).toBe(3);

      const named = await inGateway([
        WORKER,
        'exec',
        '--instance',
        `workers/${worker.id}`,
        '--',
        'hostname',
      ]);
      expect(named.stdout.toString().trim()).toBe(worker.id);

      const events = await w().api.call('listEvents', { query: { tenant: 'acme', last: 50 } });
      const relayed = events.filter(
        (e) => e.action === 'instance.exec' && e.target === `acme/workers/${worker.id}`,
      );
      expect(relayed.length).toBeGreaterThanOrEqual(3);
      // Audited as the node's (its credential; this dev agent's is the admin token), with the
      // gateway it came from and the key.
      const via = relayed.map((e) => e.detail.via as { gateway?: string; workerKey?: string });
      expect(via).toContainEqual({ gateway: `acme/gw/${gw.id}`, workerKey: 'agent:main:main' });
      expect(via).toContainEqual({ gateway: `acme/gw/${gw.id}` });
    },
    15 * MINUTES,
  );

  it(
    "a forged target in another tenant is refused, and that tenant's worker runs nothing",
    async () => {
      const evil = await one('evil', 'workers');
      const forged = await inGateway([
        WORKER,
        'exec',
        '--instance',
        `workers/${evil.id}`,
        '--',
        'hostname',
      ]);
      expect(forged.code).toBe(125);
      expect(forged.stdout.toString()).toBe('');
      expect(forged.stderr).toContain('not found');
      // A request naming a tenant is malformed (the guest never names one): refused here.
      const tenant = await inGateway([
        WORKER,
        'exec',
        '--instance',
        `evil/workers/${evil.id}`,
        '--',
        'id',
      ]);
      expect(tenant.code).toBe(125);
      const events = await w().api.call('listEvents', { query: { tenant: 'evil', last: 50 } });
      expect(events.filter((e) => e.action === 'instance.exec')).toEqual([]);
    },
    10 * MINUTES,
  );

  it(
    'a sleeping worker is woken by the command',
    async () => {
      const worker = await one('acme', 'workers');
      await w().ok(['instance', 'sleep', `acme/workers/${worker.id}`]);
      await until(
        'the worker asleep',
        async () => ((await one('acme', 'workers')).status === 'sleeping' ? true : undefined),
        10 * MINUTES,
        1_000,
      );
      const run = await inGateway([
        WORKER,
        'exec',
        '--worker',
        'agent:main:main',
        '--',
        'hostname',
      ]);
      expect(run.stderr).toBe('');
      expect(run.stdout.toString().trim()).toBe(worker.id);
      expect((await one('acme', 'workers')).status).toBe('running');
    },
    15 * MINUTES,
  );
});

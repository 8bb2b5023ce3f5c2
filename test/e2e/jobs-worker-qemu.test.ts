/**
 * Jobs in a real worker microVM, the whole path (issue 14, "How it will be checked"): a real
 * coordinator, a real agent with worker images (QEMU under TCG), and the CLI. The agent keeps
 * the executor in the running worker and relays its calls; the test only submits, sleeps,
 * wakes and reads.
 *
 * 1. A job journals an effect and then `sleep`s (parked). The worker is put to sleep with
 *    `mvm instance sleep` (no --force: the agent stops its executor before the guest's drain),
 *    woken with `mvm instance wake`, and the job continues from its journal and completes
 *    exactly once: its KV key was set twice in all, once per `kv_set`.
 * 2. The pool becomes queue-driven (`mvm pool autoscale --queue --min 0 --max 1`) with an idle
 *    sleep: the idle policy puts the worker to sleep; a submitted job wakes it and runs there.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/until.ts';
import { callsModule } from '../executor/job-modules.ts';
import { POOL, TENANT, startJobsWorld, type JobsWorld } from './support/jobs-world.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('jobs in a real worker microVM');

const PATH = `${TENANT}/${POOL}`;
const MINUTES = 60_000;
/** Long enough to see the job parked and the worker asleep before it is due. */
const JOB_SLEEP_MS = 60_000;

describe.runIf(gate.run)('jobs in a real worker microVM', () => {
  let dir: string;
  let world: JobsWorld | undefined;
  const w = (): JobsWorld => {
    if (!world) throw new Error('the world did not start (see beforeAll)');
    return world;
  };
  /** Waits for `probe`, with the world's story in the failure. */
  const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, ms: number) => {
    try {
      return await until(what, probe, ms, 500);
    } catch (error) {
      throw new Error(`${String(error)}\n${await w().story()}`);
    }
  };
  const worker = async () => {
    const [only, ...more] = await w().instances();
    if (!only || more.length > 0) throw new Error(`expected one worker:\n${await w().story()}`);
    return only;
  };
  const submit = async (module: Uint8Array): Promise<string> => {
    const wasm = Buffer.from(module).toString('base64');
    const body = { pool: POOL, wasm };
    return (await w().api.call('submitJob', { params: { tenant: TENANT }, body })).job.id;
  };
  const succeeded = (id: string, ms: number) =>
    waitFor(
      `job ${id} to succeed`,
      async () => {
        const job = await w().job(id);
        if (job.state === 'failed' || job.state === 'dead') {
          throw new Error(`job ${id} ended ${job.state}: ${job.errorCode} ${job.error}`);
        }
        return job.state === 'succeeded' ? job : undefined;
      },
      ms,
    );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mvm-jobs-e2e-'));
    world = await startJobsWorld(dir);
    await w().api.call('createTenant', { body: { id: TENANT } });
    await w().api.call('createPool', {
      params: { tenant: TENANT },
      body: { id: POOL, vcpus: 1, memMib: 512, dataDiskMib: 16 },
    });
    await w().ok(['pool', 'scale', PATH, '--running', '1']);
    await waitFor(
      'the worker running',
      async () => ((await worker()).status === 'running' ? true : undefined),
      10 * MINUTES,
    );
  }, 15 * MINUTES);
  afterAll(async () => {
    await world?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 5 * MINUTES);

  it(
    'a worker slept mid-job and woken: the job continues and completes exactly once',
    async () => {
      const module = callsModule([
        ['kv_set', '{"key":"k","value":"1"}'],
        ['sleep', `{"ms":${JOB_SLEEP_MS}}`],
        ['kv_set', '{"key":"k","value":"2"}'],
        ['kv_get', '{"key":"k"}'],
      ]);
      const id = await submit(module);
      // Parked in its sleep: queued again for later, one effect done, the rest to come.
      await waitFor(
        'the job parked in its sleep',
        async () => {
          const job = await w().job(id);
          return job.state === 'queued' && Date.parse(job.runAt) > Date.parse(job.createdAt) + 5_000
            ? job
            : undefined;
        },
        5 * MINUTES,
      );
      const { id: instance } = await worker();
      await w().ok(['instance', 'sleep', `${PATH}/${instance}`]);
      await waitFor(
        'the worker asleep',
        async () => ((await worker()).status === 'sleeping' ? true : undefined),
        5 * MINUTES,
      );
      expect((await w().job(id)).state).toBe('queued');

      await w().ok(['instance', 'wake', `${PATH}/${instance}`]);
      const job = await succeeded(id, 10 * MINUTES);
      // The key was set exactly twice (version 2): neither kv_set ran again after the wake.
      expect(JSON.parse(job.result ?? 'null')).toEqual({ value: '2', version: 2 });
      expect(job.failedAttempts).toBe(0);
    },
    25 * MINUTES,
  );

  it(
    'a queued job wakes the worker the idle policy put to sleep, and runs there',
    async () => {
      await w().ok(['pool', 'update', PATH, '--idle-sleep-after', '5']);
      await w().ok(['pool', 'autoscale', PATH, '--queue', '--min', '0', '--max', '1']);
      await waitFor(
        'the idle policy to put the worker to sleep',
        async () => ((await worker()).status === 'sleeping' ? true : undefined),
        10 * MINUTES,
      );
      const id = await submit(callsModule([['kv_set', '{"key":"woken","value":"yes"}']]));
      const job = await succeeded(id, 10 * MINUTES);
      expect(JSON.parse(job.result ?? 'null')).toEqual({ version: 1 });
      expect((await worker()).status).toBe('running');
      const events = await w().api.call('listEvents', { query: { tenant: TENANT, last: 100 } });
      const actions = events.map((e) => `${e.actor} ${e.action}`);
      expect(actions).toContain('system:idle-policy instance.idle-sleep');
      expect(actions).toContain('system:queue-wake instance.queue-wake');
    },
    25 * MINUTES,
  );
});

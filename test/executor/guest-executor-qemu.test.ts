/**
 * The job executor inside a real worker microVM (QEMU, TCG here) booted from the worker image
 * (dev image plus Node and the executor). Its calls reach the coordinator only through the
 * host side's relay over the guest agent's exec session: the guest has no route anywhere and
 * holds no credential, and a guest that forges its identity or a job is refused.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { GuestJobRelay } from '../../src/agent/jobs/guest-job-relay.ts';
import { createApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { buildDevImage } from '../../src/drivers/dev-image/build-dev-image.ts';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { QemuVmm } from '../../src/drivers/qemu/qemu-vmm.ts';
import { buildJobModule } from '../../src/executor/sdk-build.ts';
import type { VmHandle } from '../../src/ports/vmm.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import { execText } from '../support/exec-output.ts';
import { guestSpec, shortWorkDir, testRunner } from '../support/qemu-guest.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { until } from '../support/until.ts';
import { ADMIN, startCoordinator } from './executor-world.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('job executor in a worker microVM');

const EXAMPLES = resolve(import.meta.dirname, '../../examples/jobs/assembly');
const worker = { nodeId: 'node-1', instanceId: 'workers-1', tenantId: 'acme', poolId: 'workers' };
const vmm = new QemuVmm({ runner: testRunner, accel: 'tcg' });
let vm: VmHandle | undefined;
let guest: GuestAgentClient;
let counterWasm: Uint8Array;
let built: string;

beforeAll(async () => {
  if (!gate.run) return;
  built = await mkdtemp(join(tmpdir(), 'mvm-guest-jobs-'));
  counterWasm = new Uint8Array(
    await readFile(await buildJobModule(join(EXAMPLES, 'counter.ts'), built)),
  );
  const image = await buildDevImage({ runner: testRunner, executor: {} });
  const workDir = await shortWorkDir('gexec');
  vm = await vmm.start(guestSpec(image, workDir, { key: 'mvm-test-guest-exec', memMib: 512 }));
  guest = new GuestAgentClient(unixSocketTransport(vm.guestSocket), { requestTimeoutMs: 60_000 });
  await guest.waitReady(180_000);
}, 400_000);
afterAll(async () => {
  guest?.close();
  if (vm) await vmm.stop(vm);
  if (built) await rm(built, { recursive: true, force: true });
});

if (gate.run) {
  await describeEachDatabase('job executor in a worker microVM', ({ store }) => {
    let coordinator: Awaited<ReturnType<typeof startCoordinator>>;
    const relay = (options: { env?: Record<string, string>; argv?: string[] } = {}) =>
      new GuestJobRelay({
        api: createApiClient({ baseUrl: coordinator.url, token: ADMIN }),
        guest,
        worker,
        logger: silentLogger,
        leaseMs: 6000,
        ...options,
      });

    beforeEach(async () => {
      coordinator = await startCoordinator(store());
    });
    afterEach(async () => {
      await coordinator.close();
    });

    it('the guest has no route to the coordinator and holds no credential', async () => {
      const routes = await execText(guest, { argv: ['cat', '/proc/net/route'] });
      expect(routes.stdout.trim().split('\n')).toHaveLength(1); // the header only
      const port = new URL(coordinator.url).port;
      const host = Object.values(networkInterfaces())
        .flat()
        .find((a) => a?.family === 'IPv4' && !a.internal)?.address;
      const reach = await execText(guest, {
        argv: [
          '/opt/mvm-executor/node',
          '-e',
          `fetch('http://${host ?? '10.0.2.2'}:${port}/v1/nodes').then(()=>process.exit(0),(e)=>{console.error(String(e.cause??e));process.exit(3)})`,
        ],
        timeoutMs: 60_000,
      });
      expect(reach.exit.code, reach.stderr).toBe(3);
      const env = await execText(guest, { argv: ['env'] });
      expect(env.stdout).not.toContain(ADMIN);
    }, 120_000);

    it('a submitted job runs in the guest and its effects are journaled', async () => {
      const id = await coordinator.submit(counterWasm, 'workers', { input: '{"key":"runs"}' });
      const stop = new AbortController();
      const session = relay().run(stop.signal);
      await until(
        'the job to succeed',
        async () => ((await store().jobs.get(id))?.state === 'succeeded' ? true : undefined),
        240_000,
      );
      stop.abort();
      await session.catch(() => undefined);
      const job = await store().jobs.get(id);
      expect(job).toMatchObject({ state: 'succeeded', result: '{"count":1}' });
      const entries = await store().jobJournal.entries(id);
      expect(entries.map((e) => [e.op, e.state])).toEqual([
        ['kv_get', 'completed'],
        ['kv_set', 'completed'],
        ['log', 'completed'],
      ]);
      // Version 1: the KV changed once.
      expect(await store().jobJournal.kvGet('acme', 'runs')).toEqual({ value: '1', version: 1 });
    }, 300_000);

    it('an executor killed mid-job in the guest: the next one finishes it exactly once', async () => {
      const id = await coordinator.submit(counterWasm, 'workers', { input: '{"key":"once"}' });
      // Dies (SIGKILL) with the kv_set recorded but not yet performed: the in-doubt effect.
      const crashed = await relay({ env: { MVM_EXECUTOR_FAULT: 'after_record:1' } }).run();
      expect(crashed.signal).toBe('KILL');
      expect((await store().jobs.get(id))?.state).toBe('running');
      const stop = new AbortController();
      const session = relay().run(stop.signal);
      await until(
        'the job to succeed',
        async () => ((await store().jobs.get(id))?.state === 'succeeded' ? true : undefined),
        240_000,
      );
      stop.abort();
      await session.catch(() => undefined);
      const job = await store().jobs.get(id);
      expect(job).toMatchObject({ state: 'succeeded', result: '{"count":1}' });
      // At least the crashed attempt and the one that finished (a TCG guest on a loaded host
      // can also miss a heartbeat and lose a lease; that attempt then wrote nothing).
      expect(job?.attempts).toBeGreaterThanOrEqual(2);
      expect(await store().jobJournal.kvGet('acme', 'once')).toEqual({ value: '1', version: 1 });
    }, 400_000);

    it('a guest forging its instance or a job is refused by the host side', async () => {
      const id = await coordinator.submit(counterWasm, 'workers', { input: '{"key":"forged"}' });
      const lines = [
        '{"id":0,"call":"claimJobs","body":{"worker":"workers-2","limit":1}}',
        '{"id":1,"call":"claimJobs","body":{"tenant":"globex","limit":1}}',
        `{"id":2,"call":"heartbeatJob","job":"${id}","body":{"token":"x"}}`,
        '{"id":3,"call":"nodeSecrets","body":{}}',
      ];
      const script = lines.map((l) => `echo '${l}'; read -r a; echo "$a" >&2`).join('; ');
      const answers: string[] = [];
      const session = new GuestJobRelay({
        api: createApiClient({ baseUrl: coordinator.url, token: ADMIN }),
        guest: {
          exec: async (request, options) => {
            const exec = await guest.exec(request, options);
            exec.stderr.on('data', (c: Buffer) => answers.push(...c.toString().trim().split('\n')));
            return exec;
          },
        },
        worker,
        logger: silentLogger,
        argv: ['sh', '-c', script],
      });
      expect((await session.run()).code).toBe(0);
      const parsed = answers.map((a) => JSON.parse(a) as { id: number; status: number });
      expect(parsed.map((a) => [a.id, a.status])).toEqual([
        [0, 403],
        [1, 403],
        [2, 403],
        [3, 400],
      ]);
      expect((await store().jobs.get(id))?.state).toBe('queued');
    }, 120_000);
  });
}

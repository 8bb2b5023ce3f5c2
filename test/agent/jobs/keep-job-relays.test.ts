/**
 * The host agent's job relays over a real coordinator on both stores and the real executor
 * bundle. The guest channel is the one stand-in: `exec` runs the guest's command line as a
 * local process (the executor from the bundle instead of /opt/mvm-executor); the real
 * guest path is test/executor/guest-executor-qemu.test.ts.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { keepJobRelays } from '../../../src/agent/jobs/keep-job-relays.ts';
import type { VmRecord } from '../../../src/agent/state/vm-repo.ts';
import type { ExecExit, ExecRequest } from '../../../src/contract/guest-protocol-v2.ts';
import { createApiClient } from '../../../src/drivers/coordinator-api/api-client.ts';
import type { ExecHandle, ExecOptions } from '../../../src/drivers/guest-channel/exec-session.ts';
import { buildJobModule } from '../../../src/executor/sdk-build.ts';
import { silentLogger } from '../../../src/ports/logger.ts';
import { describeEachDatabase } from '../../support/store-harness.ts';
import { until } from '../../support/until.ts';
import {
  ADMIN,
  bundleExecutor,
  removeBundle,
  startCoordinator,
} from '../../executor/executor-world.ts';

const EXAMPLES = resolve(import.meta.dirname, '../../../examples/jobs/assembly');
let bundle: { main: string; dir: string };
let built: string;
let counterWasm: Uint8Array;

beforeAll(async () => {
  bundle = await bundleExecutor();
  built = await mkdtemp(join(tmpdir(), 'mvm-relay-jobs-'));
  counterWasm = new Uint8Array(
    await readFile(await buildJobModule(join(EXAMPLES, 'counter.ts'), built)),
  );
}, 120_000);
afterAll(async () => {
  await removeBundle(bundle.dir);
  await rm(built, { recursive: true, force: true });
});

/** A node's VM list, and an exec that runs the guest's executor line locally. */
class LocalGuests {
  vms: VmRecord[] = [];
  execs: Array<{ instance: string; argv: string[]; exited: boolean }> = [];
  /** What the runtime runs before it drains, pauses or snapshots a running VM. */
  hooks: Array<(key: string) => Promise<void>> = [];

  beforeLowering = (hook: (key: string) => Promise<void>) => {
    this.hooks.push(hook);
    return () => {
      this.hooks = this.hooks.filter((h) => h !== hook);
    };
  };

  vm(instanceId: string, role: string, status: string): VmRecord {
    const spec = { role } as VmRecord['spec'];
    return {
      key: `acme/workers/${instanceId}`,
      tenantId: 'acme',
      poolId: 'workers',
      instanceId,
      spec,
      status,
    } as VmRecord;
  }

  list = () => Promise.resolve(this.vms);

  exec = (
    ref: { instanceId: string },
    request: ExecRequest,
    options?: ExecOptions,
  ): Promise<ExecHandle> => {
    const seen = { instance: ref.instanceId, argv: request.argv, exited: false };
    this.execs.push(seen);
    const [, script, ...args] = request.argv;
    const missing = !script?.startsWith('/opt/mvm-executor/') || ref.instanceId === 'plain-1';
    const child = missing
      ? spawn('sh', ['-c', 'exit 127'])
      : spawn(process.execPath, [bundle.main, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdin = options?.stdin;
    if (stdin && typeof stdin === 'object' && 'pipe' in stdin && child.stdin)
      stdin.pipe(child.stdin);
    options?.signal?.addEventListener('abort', () => child.kill('SIGKILL'), { once: true });
    const exit = new Promise<ExecExit>((done) =>
      child.once('exit', (code, signal) => {
        seen.exited = true;
        done({ code: code ?? 128 + 9, ...(signal ? { signal: 'KILL' } : {}), timedOut: false });
      }),
    );
    return Promise.resolve({
      pid: child.pid ?? 0,
      stdout: child.stdout,
      stderr: child.stderr,
      exit,
      signal: async () => void child.kill('SIGKILL'),
    } as ExecHandle);
  };
}

await describeEachDatabase('host agent job relays', ({ store }) => {
  let coordinator: Awaited<ReturnType<typeof startCoordinator>>;
  let abort = new AbortController();
  beforeEach(async () => {
    abort = new AbortController();
    coordinator = await startCoordinator(store());
  });
  afterEach(async () => {
    abort.abort();
    await coordinator.close();
  });
  /** The node's relays over `guests`, looking every 200 ms, with a 3 s executor lease. */
  const relaysFor = (guests: LocalGuests) =>
    keepJobRelays({
      api: createApiClient({ baseUrl: coordinator.url, token: ADMIN }),
      nodeId: 'node-1',
      runtime: guests,
      logger: silentLogger,
      signal: abort.signal,
      everyMs: 200,
      leaseMs: 3000,
    });

  it('runs an executor per running worker only, and stops it when the worker leaves running', async () => {
    const guests = new LocalGuests();
    guests.vms = [
      guests.vm('workers-1', 'worker', 'running'),
      guests.vm('gw-1', 'gateway', 'running'),
      guests.vm('workers-2', 'worker', 'sleeping'),
      guests.vm('plain-1', 'worker', 'running'),
    ];
    const relays = relaysFor(guests);
    const id = await coordinator.submit(counterWasm, 'workers', { input: '{"key":"relayed"}' });
    const job = await until(
      'the job to succeed',
      async () => {
        const found = await store().jobs.get(id);
        return found?.state === 'succeeded' ? found : undefined;
      },
      60_000,
    );
    expect(job.result).toBe('{"count":1}');
    await new Promise((r) => setTimeout(r, 1000));
    // One executor in workers-1; none in the gateway or the sleeping worker; the image
    // without an executor (127) asked once, not again.
    expect([...new Set(guests.execs.map((e) => e.instance))].sort()).toEqual([
      'plain-1',
      'workers-1',
    ]);
    expect(guests.execs.filter((e) => e.instance === 'plain-1')).toHaveLength(1);
    expect(guests.execs.find((e) => e.instance === 'workers-1')?.argv).toEqual(
      expect.arrayContaining(['--stdio', '--worker', 'workers-1', '--pool', 'workers']),
    );
    const [first] = guests.vms;
    if (first) first.status = 'warm';
    await until(
      'the relay to stop',
      () =>
        guests.execs.filter((e) => e.instance === 'workers-1').every((e) => e.exited) || undefined,
    );
    abort.abort();
    await relays.done;
  }, 120_000);

  it('stops the executor before its worker is lowered, and keeps it away until it left running', async () => {
    const guests = new LocalGuests();
    guests.vms = [guests.vm('workers-1', 'worker', 'running')];
    const relays = relaysFor(guests);
    await until('an executor', () => guests.execs.length === 1 || undefined, 30_000);
    const [hook] = guests.hooks;
    if (!hook) throw new Error('keepJobRelays registered no lowering hook');
    // The hook returns once the executor's session has ended: the guest's drain finds no work.
    await hook('acme/workers/workers-1');
    expect(guests.execs.map((e) => e.exited)).toEqual([true]);
    // Still running (the drain and the snapshot take a while): no executor comes back...
    await new Promise((r) => setTimeout(r, 1500));
    expect(guests.execs).toHaveLength(1);
    // ...until the VM has left running and runs again (woken).
    const [vm] = guests.vms;
    if (!vm) throw new Error('no vm');
    vm.status = 'sleeping';
    await new Promise((r) => setTimeout(r, 600));
    vm.status = 'running';
    await until('the executor back', () => guests.execs.length === 2 || undefined, 30_000);
    abort.abort();
    await relays.done;
    expect(guests.hooks).toEqual([]);
  }, 120_000);
});

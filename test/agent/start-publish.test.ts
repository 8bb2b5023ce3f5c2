/**
 * The agent's wiring of published ports (agent/publish/start-publish.ts) over loopback
 * sockets: a connection to a sleeping instance wakes it through the runtime's `wake` action,
 * the node remembers the wake (so an older document does not lower it at once), and the wake
 * is asked of the coordinator first, in a body its route accepts (the route itself is tested on
 * both stores with the wake-on-connect reports). The runtime and the coordinator client are
 * stand-ins here; the real runtime path is test/net/publish-qemu.test.ts.
 */
import { tmpdir } from 'node:os';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import { connect, createServer } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import type { BuiltRuntime } from '../../src/agent/build-runtime.ts';
import { startPublish } from '../../src/agent/publish/start-publish.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { wakeReportSchema } from '../../src/contract/requests.ts';
import type { ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { DEFAULT_TIMEOUTS } from '../../src/agent/runtime/deps.ts';
import { quietLogger } from './agent-harness.ts';
import { freePort } from '../support/free-port.ts';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

it('wakes a sleeping instance through the runtime once the coordinator admits it, and remembers it', async () => {
  const [hostPort, guestPort] = [await freePort(), await freePort()];
  let record = {
    key: 'acme-web-i1',
    tenantId: 'acme',
    poolId: 'web',
    instanceId: 'i1',
    status: 'sleeping',
    spec: { ip: '127.0.0.1', publish: [{ hostPort, guestPort }] },
  } as unknown as VmRecord;
  const actions: string[] = [];
  const runtime = {
    list: () => Promise.resolve([record]),
    act: async (ref: { instanceId: string }, action: string) => {
      actions.push(`${ref.instanceId} ${action}`);
      const service = createServer((socket) => socket.end('hello'));
      await new Promise<void>((resolve) => service.listen(guestPort, '127.0.0.1', resolve));
      closers.push(() => void service.close());
      record = { ...record, status: 'running' } as VmRecord;
      return record;
    },
  };
  const deps = { network: {}, timeouts: DEFAULT_TIMEOUTS, clock: systemClock } as Record<
    string,
    unknown
  >;
  const reports: Array<{ name: string; input: unknown }> = [];
  const api = {
    call: (name: string, input: unknown) => {
      reports.push({ name, input });
      // The coordinator admits the wake: it raised the instance to running.
      return Promise.resolve({ desiredStatus: 'running', pressureSleptAt: null, idleSlot: null });
    },
  } as unknown as ApiClient;
  const handle = await startPublish({ runtime, deps } as unknown as BuiltRuntime, {
    logger: quietLogger,
    netns: undefined,
    address: undefined,
    coordinator: { api, nodeId: 'n1' },
    runner: new NodeProcessRunner(),
    dataDir: tmpdir(),
  });
  expect(handle).toBeDefined();
  closers.push(() => handle?.close());
  const deadline = Date.now() + 10_000;
  while (!(handle?.proxy.ports() ?? []).includes(hostPort)) {
    if (Date.now() > deadline) throw new Error('the published port did not open');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  const answer = await new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: hostPort });
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('end', () => resolve(data));
    socket.on('error', () => resolve('reset'));
  });
  expect(answer).toBe('hello');
  expect(actions).toEqual(['i1 wake']);
  expect(
    (deps['publish'] as { wokenAt(key: string): number | undefined }).wokenAt('acme-web-i1'),
  ).toBeGreaterThan(0);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(reports).toHaveLength(1);
  const report = reports[0] as { name: string; input: { params: unknown; body: unknown } };
  expect(report.name).toBe('reportInstanceWake');
  expect(report.input.params).toEqual({ node: 'n1', tenant: 'acme', pool: 'web', instance: 'i1' });
  expect(wakeReportSchema.parse(report.input.body)).toEqual({
    trigger: 'connect',
    port: guestPort,
    from: '127.0.0.1',
    source: 'node',
  });
});

it('does not start without tenant networking', async () => {
  const built = { runtime: {}, deps: { network: undefined } } as unknown as BuiltRuntime;
  const options = {
    logger: quietLogger,
    netns: undefined,
    address: undefined,
    coordinator: undefined,
    runner: new NodeProcessRunner(),
    dataDir: tmpdir(),
  };
  expect(await startPublish(built, options)).toBeUndefined();
});

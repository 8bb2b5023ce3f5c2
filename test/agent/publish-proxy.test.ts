/**
 * The node's published-port proxy over real sockets on loopback, with the instances played by
 * records and a real TCP server standing in for the guest's service (the QEMU path is
 * test/net/publish-qemu.test.ts): a running instance is served at once; connections to a
 * sleeping one are held while one wake runs, then all served; a pool with nothing to serve
 * resets the connection; listeners follow the records.
 */
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PublishProxy } from '../../src/agent/publish/publish-proxy.ts';
import { documentInstances } from '../../src/agent/reconcile/document-instances.ts';
import { localSpecSchema } from '../../src/contract/agent-api.ts';
import { nodeDesiredSchema } from '../../src/contract/desired.ts';
import type { VmRecord } from '../../src/agent/state/vm-repo.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { quietLogger } from './agent-harness.ts';
import { freePort } from '../support/free-port.ts';

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** The guest's service: answers `hello <name>` and closes. */
async function service(name: string, port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.end(`hello ${name}`));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  closers.push(() => server.close());
  return { server, port: (server.address() as AddressInfo).port };
}

function record(key: string, status: string, hostPort: number, guestPort: number): VmRecord {
  return {
    key,
    tenantId: 'acme',
    poolId: 'web',
    instanceId: key,
    status,
    spec: { ip: '127.0.0.1', publish: [{ hostPort, guestPort }] },
  } as unknown as VmRecord;
}

/** One client: what the server sent, or `reset` when the connection was cut. */
function fetchOnce(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('end', () => resolve(data));
    socket.on('error', () => resolve('reset'));
  });
}

function proxyOver(records: VmRecord[], wake: (r: VmRecord) => Promise<VmRecord>): PublishProxy {
  const proxy = new PublishProxy({
    host: '127.0.0.1',
    records: () => Promise.resolve(records),
    wake,
    holdMs: 10_000,
    clock: systemClock,
    logger: quietLogger,
  });
  closers.push(() => proxy.close());
  return proxy;
}

describe('published-port proxy', () => {
  it('serves a running instance at once, and never wakes the sleeping one beside it', async () => {
    const guest = await service('a');
    const hostPort = await freePort();
    let wakes = 0;
    const proxy = proxyOver(
      [record('b', 'sleeping', hostPort, guest.port), record('a', 'running', hostPort, guest.port)],
      (r) => {
        wakes += 1;
        return Promise.resolve(r);
      },
    );
    await proxy.sync();
    expect(proxy.ports()).toEqual([hostPort]);
    expect(await fetchOnce(hostPort)).toBe('hello a');
    expect(wakes).toBe(0);
  });

  it('holds parallel connections to a sleeping instance through one wake, then serves them all', async () => {
    const guestPort = await freePort();
    const hostPort = await freePort();
    const sleeper = record('s', 'sleeping', hostPort, guestPort);
    const records = [sleeper];
    let wakes = 0;
    const proxy = proxyOver(records, async (r) => {
      wakes += 1;
      // The guest's service answers only once it is woken, a while later.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await service('woken', guestPort);
      records[0] = { ...r, status: 'running' } as VmRecord;
      return records[0];
    });
    await proxy.sync();
    const answers = await Promise.all(Array.from({ length: 10 }, () => fetchOnce(hostPort)));
    expect(answers).toEqual(Array.from({ length: 10 }, () => 'hello woken'));
    expect(wakes).toBe(1);
    expect(proxy.wakeCount).toBe(1);
    expect(proxy.wokenAt('s')).toBeGreaterThan(0);
  });

  it('resets a connection no instance can serve, and one whose wake fails', async () => {
    const hostPort = await freePort();
    const records = [record('x', 'stopped', hostPort, 1)];
    const proxy = proxyOver(records, () => Promise.reject(new Error('no snapshot')));
    await proxy.sync();
    expect(await fetchOnce(hostPort)).toBe('reset');
    records[0] = record('x', 'sleeping', hostPort, 1);
    expect(await fetchOnce(hostPort)).toBe('reset');
  });

  it('follows the records: a port no record publishes any more is closed', async () => {
    const hostPort = await freePort();
    const records = [record('a', 'running', hostPort, 1)];
    const proxy = proxyOver(records, (r) => Promise.resolve(r));
    await proxy.sync();
    expect(proxy.ports()).toEqual([hostPort]);
    records.pop();
    await proxy.sync();
    expect(proxy.ports()).toEqual([]);
    expect(await fetchOnce(hostPort)).toBe('reset');
  });

  it('keeps a host port another process holds out, and opens it once it is free', async () => {
    const busy = await service('other');
    const records = [record('a', 'running', busy.port, 1)];
    const proxy = proxyOver(records, (r) => Promise.resolve(r));
    await proxy.sync();
    expect(proxy.ports()).toEqual([]);
    await new Promise((resolve) => busy.server.close(resolve));
    await proxy.sync();
    expect(proxy.ports()).toEqual([busy.port]);
  });
});

describe('a node document naming published ports and hooks', () => {
  it('gives each instance of the pool both in its spec, and the spec schema keeps them', () => {
    const publish = [{ hostPort: 18789, guestPort: 18789 }];
    const hooks = { beforeSleep: ['openclaw', 'gateway', 'suspend'] };
    const document = nodeDesiredSchema.parse({
      schema: 'mvm.node-desired/v1',
      nodeId: 'n1',
      generation: 1,
      issuedAt: '2026-12-04T00:00:00.000Z',
      tenants: [
        {
          id: 'acme',
          netId: 9,
          subnet: '10.240.9.0/24',
          gateway: '10.240.9.1',
          pools: [
            {
              id: 'gw',
              role: 'gateway',
              flake: null,
              profile: null,
              revision: null,
              vcpus: 1,
              memMib: 256,
              dataDiskMib: 64,
              pinned: false,
              critical: true,
              publish,
              hooks,
              instances: [
                { id: 'i1', ip: '10.240.9.2', mac: '02:00:0a:f0:09:02', desiredStatus: 'running' },
              ],
            },
          ],
        },
      ],
    });
    const named = [...documentInstances(document).values()];
    expect(named).toHaveLength(1);
    const spec = localSpecSchema.parse(named[0]?.body.spec);
    expect(spec.publish).toEqual(publish);
    expect(spec.hooks).toEqual(hooks);
  });
});

/**
 * A real QEMU guest (TCG) whose channel to the host passes through a relay the test holds, as
 * a compromised guest's own bytes would: once the instance runs, the relay sends the host a
 * broken frame. The serving agent drops the channel, fails the instance with what the guest
 * did and stops its VMM; the agent itself stays up and starts the instance again, cold.
 */
import { rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent/start-agent.ts';
import type { AgentHandle } from '../../src/agent/start-agent.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../src/drivers/process/wait-until.ts';
import type { VmHandle, Vmm } from '../../src/ports/vmm.ts';
import {
  agentDataDir,
  quietLogger,
  ref,
  tcgVmm,
  testAgentConfig,
  workerSpec,
} from './agent-harness.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate('lying guest');

/** Relays one VM's guest channel through a socket of the test's, which can inject bytes. */
class Relay {
  private readonly hostSide = new Set<Socket>();
  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {}

  static async open(guestSocket: string, serial: number): Promise<Relay> {
    const path = `${guestSocket}.relay${serial}`;
    const relay: Relay = new Relay(
      path,
      createServer((host) => {
        const guest = connect(guestSocket);
        relay.hostSide.add(host);
        host.pipe(guest).pipe(host);
        const end = (): void => {
          relay.hostSide.delete(host);
          host.destroy();
          guest.destroy();
        };
        host.on('error', end).on('close', end);
        guest.on('error', end).on('close', end);
      }),
    );
    await new Promise<void>((resolve, reject) => {
      relay.server.once('error', reject);
      relay.server.listen(path, resolve);
    });
    return relay;
  }

  /** What a lying guest says: bytes to every open host connection. */
  lie(bytes: Buffer): number {
    for (const host of this.hostSide) host.write(bytes);
    return this.hostSide.size;
  }

  close(): void {
    for (const host of this.hostSide) host.destroy();
    this.server.close();
  }
}

/** The real QEMU driver, with each VM's guest channel behind a Relay. */
class RelayedVmm implements Vmm {
  readonly name: Vmm['name'];
  readonly relays = new Map<string, Relay>();
  private serial = 0;
  constructor(private readonly inner: Vmm) {
    this.name = inner.name;
  }
  private async relayed(handle: VmHandle): Promise<VmHandle> {
    this.relays.get(handle.key)?.close();
    this.serial += 1;
    const relay = await Relay.open(handle.guestSocket, this.serial);
    this.relays.set(handle.key, relay);
    return { ...handle, guestSocket: relay.path };
  }
  capabilities: Vmm['capabilities'] = () => this.inner.capabilities();
  start: Vmm['start'] = async (spec) => this.relayed(await this.inner.start(spec));
  restore: Vmm['restore'] = async (spec, snap) =>
    this.relayed(await this.inner.restore(spec, snap));
  pause: Vmm['pause'] = (vm) => this.inner.pause(vm);
  resume: Vmm['resume'] = (vm) => this.inner.resume(vm);
  snapshot: Vmm['snapshot'] = (vm, dir, kind) => this.inner.snapshot(vm, dir, kind);
  state: Vmm['state'] = (vm) => this.inner.state(vm);
  stop: Vmm['stop'] = (vm) => this.inner.stop(vm);
  adopt: Vmm['adopt'] = (vm) => this.inner.adopt(vm);
}

describe.skipIf(!gate.run)('agent: a guest that lies on its channel', () => {
  let dataDir = '';
  let agent: AgentHandle;
  const vmm = new RelayedVmm(tcgVmm());
  const vm = ref('liar');

  beforeAll(async () => {
    dataDir = await agentDataDir('liar');
    const config = testAgentConfig(dataDir, {
      MVM_NETWORK: 'off',
      MVM_QEMU_ACCEL: 'tcg',
      MVM_CONFINE: 'off',
    });
    agent = await startAgent(config, {
      logger: quietLogger,
      vmm,
      network: null,
      cgroups: null,
      timeouts: { exitCheckMs: 200 },
    });
    const spec = { ...workerSpec('10.240.99.41', '52:54:00:00:99:41'), network: false };
    await agent.runtime.put(vm, { spec });
  });

  afterAll(async () => {
    await agent?.runtime.destroyAll().catch(() => undefined);
    await agent?.close();
    for (const relay of vmm.relays.values()) relay.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('fails the instance with what the guest did, stops its VMM, and stays up', async () => {
    const record = await agent.runtime.act(vm, 'start');
    const handle = record.handle;
    if (!handle) throw new Error('no VMM handle after start');
    await agent.deps.guests.for(handle).ping(5_000);
    // A header with a wrong magic byte and a 4 GiB length: no agent would send it.
    const lie = Buffer.from([0x00, 0x02, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
    expect(vmm.relays.get(record.key)?.lie(lie)).toBe(1);

    const failed = await waitUntil(
      async () => {
        const now = await agent.runtime.get(vm);
        return now.status === 'failed' ? now : undefined;
      },
      { clock: systemClock, timeoutMs: 10_000, intervalMs: 100, what: 'the instance to fail' },
    );
    expect(failed.failureReason).toBe(
      'its guest agent broke the protocol: bad frame header (magic 0, length 4294967295)',
    );
    expect(failed.handle).toBeNull();
    expect(await agent.deps.vmm.state(handle)).toBe('exited');

    // The agent is up, and the instance starts again with a channel that is believed.
    const again = await agent.runtime.act(vm, 'start');
    expect(again.status).toBe('running');
    if (!again.handle) throw new Error('no VMM handle after the restart');
    await expect(agent.deps.guests.for(again.handle).ping(5_000)).resolves.toEqual({
      ok: true,
      ready: true,
    });
  }, 240_000);
});

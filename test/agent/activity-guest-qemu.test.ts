/**
 * The guest's own CPU account in the activity decision, with ONE real guest (QEMU, TCG here):
 * its agent's status reports the guest's CPU time, an idle guest reports itself idle and a
 * guest running a loop reports itself busy, and the tracker, fed the real VMM's counters plus
 * a whole CPU of VMM time the guest never saw (what stop 33's spinning VMM looked like: 1,015‰
 * while the guest was 83% idle; the spin itself could not be reproduced), calls the idle guest
 * idle and the busy one active.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GUEST_IDLE_SHARE,
  guestBusyShare,
  type CounterSample,
} from '../../src/agent/activity/activity-decision.ts';
import { ActivityTracker } from '../../src/agent/activity/activity-tracker.ts';
import { HostActivityProbe } from '../../src/drivers/activity/host-activity-probe.ts';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import { QemuVmm } from '../../src/drivers/qemu/qemu-vmm.ts';
import type { VmHandle } from '../../src/ports/vmm.ts';
import { execText } from '../support/exec-output.ts';
import { devImage, guestSpec, shortWorkDir, testRunner } from '../support/qemu-guest.ts';
import { qemuSuiteGate } from '../support/qemu-gate.ts';

const gate = await qemuSuiteGate("the guest's own CPU account in a real guest");
const KEY = 'mvm-test-activity-guest';
/** Guest time per window: long enough for MIN_GUEST_TICKS even in a starved TCG guest. */
const WINDOW_MS = 6_000;

describe.runIf(gate.run)("the guest's own CPU account in a real guest", () => {
  const vmm = new QemuVmm({ runner: testRunner, accel: 'tcg' });
  let vm: VmHandle;
  let client: GuestAgentClient;
  const guestCpu = async () => {
    const cpu = (await client.status(20_000)).cpu;
    if (!cpu) throw new Error('the guest agent reported no cpu');
    return cpu;
  };

  beforeAll(async () => {
    const image = await devImage();
    const workDir = await shortWorkDir('actg');
    vm = await vmm.start(guestSpec(image, workDir, { key: KEY }));
    client = new GuestAgentClient(unixSocketTransport(vm.guestSocket), {
      requestTimeoutMs: 20_000,
    });
    await client.waitReady(120_000);
  }, 180_000);
  afterAll(async () => {
    client?.close();
    if (vm) await vmm.stop(vm);
  });

  /**
   * Two tracker samples WINDOW_MS apart: the real VMM's CPU time plus one whole CPU of
   * overhead the guest never saw, and the real guest's report. The share the guest reported.
   */
  const window = async () => {
    const started = Date.now();
    const real = new HostActivityProbe();
    let extraUsec = 0;
    const spinning = new ActivityTracker({
      read: async (v) => {
        const counters = await real.read(v);
        return { ...counters, cpuUsec: (counters.cpuUsec ?? 0) + extraUsec };
      },
    });
    const target = { key: KEY, pid: vm.pid, tap: 'none' };
    const first = await guestCpu();
    const at0 = new Date(started);
    await spinning.sample([{ ...target, guestCpu: first }], at0);
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
    extraUsec = WINDOW_MS * 1_000;
    const second = await guestCpu();
    const at1 = new Date(started + WINDOW_MS);
    await spinning.sample([{ ...target, guestCpu: second }], at1);
    const base = (cpu: typeof first): CounterSample => ({ atMs: 0, pid: 1, guestCpu: cpu });
    return {
      share: guestBusyShare(base(first), base(second)),
      active: spinning.lastActiveAt(KEY) !== undefined,
      vmmPermille: spinning.usageOf(KEY).cpuPermille ?? 0,
    };
  };

  it('reports its CPU time; idle, a spinning VMM does not make it active', async () => {
    // Let the boot's work settle, then a window with nothing running in the guest.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const idle = await window();
    expect(idle.share).toBeDefined();
    console.info(`idle guest: ${String(idle.share)} of its time busy`);
    expect(idle.share).toBeLessThanOrEqual(GUEST_IDLE_SHARE);
    expect(idle.vmmPermille).toBeGreaterThan(1_000);
    expect(idle.active).toBe(false);
  }, 60_000);

  it('busy in the guest, the same VMM is active', async () => {
    // Ended by its timeout (the process group killed) once the window is over.
    const loop = execText(client, {
      argv: ['sh', '-c', 'while :; do :; done'],
      timeoutMs: WINDOW_MS + 4_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const busy = await window();
    console.info(`busy guest: ${String(busy.share)} of its time busy`);
    expect(busy.share).toBeGreaterThan(0.5);
    expect(busy.active).toBe(true);
    expect((await loop).exit.code).toBe(124);
  }, 90_000);
});

/**
 * The free-page-reporting balloon with real guests (TCG here): a guest that fills and frees
 * ~100 MiB gives it back to the host (the VMM's resident memory falls well below its peak),
 * while a guest without the balloon keeps it; a sleep/wake round trip keeps working with the
 * balloon, and a snapshot taken without one (as before the driver had it, its metadata
 * without the `balloon` field) still restores. Witnesses are the VMM's /proc status and the
 * guest's own /proc and /sys, through its agent. No mocks.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuestAgentClient } from '../../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../../src/drivers/guest-channel/guest-transport.ts';
import { systemClock } from '../../../src/drivers/clock/system-clock.ts';
import { waitUntil } from '../../../src/drivers/process/wait-until.ts';
import { QemuVmm } from '../../../src/drivers/qemu/qemu-vmm.ts';
import type { SnapshotRef, VmHandle, VmSpec } from '../../../src/ports/vmm.ts';
import {
  GUEST_FREE_COMMAND,
  guestHogCommand,
  guestSh,
  vmmResident,
} from '../../support/guest-memory.ts';
import { devImage, guestSpec, shortWorkDir, testRunner } from '../../support/qemu-guest.ts';
import { qemuSuiteGate } from '../../support/qemu-gate.ts';

const gate = await qemuSuiteGate('qemu balloon real guest');
const HOG_MIB = 100;
/** What "fell back" means: at least half of what the guest filled and freed left the host. */
const GIVEN_BACK_MIB = HOG_MIB / 2;

interface Guest {
  vm: VmHandle;
  client: GuestAgentClient;
}

describe.runIf(gate.run)('QEMU free-page-reporting balloon with real guests', () => {
  const withBalloon = new QemuVmm({ runner: testRunner, accel: 'tcg' });
  const without = new QemuVmm({ runner: testRunner, accel: 'tcg', balloon: false });
  const workDirs: string[] = [];
  const running: Array<{ vmm: QemuVmm; guest: Guest }> = [];
  let image: Awaited<ReturnType<typeof devImage>>;

  const connect = async (vm: VmHandle): Promise<Guest> => {
    const client = new GuestAgentClient(unixSocketTransport(vm.guestSocket), {
      requestTimeoutMs: 30_000,
    });
    await client.waitReady(180_000);
    return { vm, client };
  };

  const boot = async (vmm: QemuVmm, label: string): Promise<{ spec: VmSpec; guest: Guest }> => {
    const workDir = await shortWorkDir(label);
    workDirs.push(workDir);
    const spec = guestSpec(image, workDir, { key: `mvm-test-${label}` });
    const guest = await connect(await vmm.start(spec));
    running.push({ vmm, guest });
    return { spec, guest };
  };

  /** Restores (paused), resumes, then waits for the woken guest's agent. */
  const wake = async (vmm: QemuVmm, spec: VmSpec, snap: SnapshotRef): Promise<Guest> => {
    const vm = await vmm.restore(spec, snap);
    const client = new GuestAgentClient(unixSocketTransport(vm.guestSocket), {
      requestTimeoutMs: 30_000,
    });
    const guest = { vm, client };
    running.push({ vmm, guest });
    await vmm.resume(vm);
    await guest.client.waitReady(180_000);
    return guest;
  };

  const stopGuest = async (vmm: QemuVmm, guest: Guest): Promise<void> => {
    guest.client.close();
    await vmm.stop(guest.vm);
  };

  /** Fills and frees HOG_MIB in the guest; the VMM's resident MiB before and at the peak. */
  const fillAndFree = async (guest: Guest): Promise<{ before: number; peak: number }> => {
    const before = (await vmmResident(guest.vm.pid)).rss;
    expect(await guestSh(guest.client, guestHogCommand(HOG_MIB))).toContain('filled');
    const peak = (await vmmResident(guest.vm.pid)).rss;
    // The guest really held it: the host saw most of it arrive.
    expect(peak - before).toBeGreaterThan(GIVEN_BACK_MIB);
    expect(await guestSh(guest.client, GUEST_FREE_COMMAND)).toContain('freed');
    return { before, peak };
  };

  const balloonBound = async (guest: Guest): Promise<boolean> => {
    const out = await guestSh(
      guest.client,
      'ls /sys/bus/virtio/drivers/virtio_balloon 2>/dev/null | grep -c "^virtio" || true',
    );
    return Number(out.trim()) > 0;
  };

  beforeAll(async () => {
    image = await devImage();
  });

  afterAll(async () => {
    for (const { vmm, guest } of running) {
      guest.client.close();
      await vmm.stop(guest.vm).catch(() => undefined);
    }
    for (const dir of workDirs) await rm(dir, { recursive: true, force: true });
  });

  it('gives ~100 MiB a guest filled and freed back to the host, and still sleeps and wakes', async () => {
    const { spec, guest } = await boot(withBalloon, 'bal');
    expect(await balloonBound(guest)).toBe(true);
    expect(await guestSh(guest.client, 'cat /proc/cmdline')).toContain(
      'page_reporting.page_reporting_order=0',
    );
    // Applied after the balloon driver registered (images/dev/initrd-init): this kernel
    // would otherwise report only pageblock-sized (2 MiB) free blocks.
    const order = await guestSh(
      guest.client,
      'cat /sys/module/page_reporting/parameters/page_reporting_order',
    );
    expect(order.trim()).toBe('0');

    const { peak } = await fillAndFree(guest);
    // Reporting runs about every 2 s once the guest frees; under TCG on a loaded host, allow long.
    const after = await waitUntil(
      async () => {
        const rss = (await vmmResident(guest.vm.pid)).rss;
        return rss <= peak - GIVEN_BACK_MIB ? rss : undefined;
      },
      { clock: systemClock, timeoutMs: 120_000, intervalMs: 1_000, what: 'the VMM RSS to fall' },
    );
    expect(after).toBeLessThanOrEqual(peak - GIVEN_BACK_MIB);

    // Sleep and wake with the balloon: same boot, balloon still there and still reporting.
    const bootId = (await guest.client.status()).boot_id;
    expect((await guest.client.sleepPrep(10_000)).drained).toBe(true);
    await withBalloon.pause(guest.vm);
    const snap = await withBalloon.snapshot(guest.vm, join(spec.workDir, 'snap'), 'full');
    const meta = JSON.parse(await readFile(join(snap.dir, 'snapshot.json'), 'utf8')) as {
      balloon?: boolean;
    };
    expect(meta.balloon).toBe(true);
    await stopGuest(withBalloon, guest);
    const woken = await wake(withBalloon, spec, snap);
    expect((await woken.client.status()).boot_id).toBe(bootId);
    expect(await balloonBound(woken)).toBe(true);
    const again = await fillAndFree(woken);
    const settled = await waitUntil(
      async () => {
        const rss = (await vmmResident(woken.vm.pid)).rss;
        return rss <= again.peak - GIVEN_BACK_MIB ? rss : undefined;
      },
      {
        clock: systemClock,
        timeoutMs: 120_000,
        intervalMs: 1_000,
        what: 'the woken VMM RSS to fall',
      },
    );
    expect(settled).toBeLessThanOrEqual(again.peak - GIVEN_BACK_MIB);
    await stopGuest(withBalloon, woken);
  }, 600_000);

  it('without the balloon the host keeps what the guest freed; such a snapshot (older metadata) still restores', async () => {
    const { spec, guest } = await boot(without, 'nobal');
    expect(await balloonBound(guest)).toBe(false);
    const { peak } = await fillAndFree(guest);
    // The same wait the balloon guest needed at most, by a fixed window: nothing is given back.
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    expect((await vmmResident(guest.vm.pid)).rss).toBeGreaterThan(peak - GIVEN_BACK_MIB / 2);

    const bootId = (await guest.client.status()).boot_id;
    await without.pause(guest.vm);
    const snap = await without.snapshot(guest.vm, join(spec.workDir, 'snap'), 'full');
    // A snapshot from before the driver recorded the device has no `balloon` field at all.
    const metaFile = join(snap.dir, 'snapshot.json');
    const { balloon, ...older } = JSON.parse(await readFile(metaFile, 'utf8')) as Record<
      string,
      unknown
    >;
    expect(balloon).toBe(false);
    await writeFile(metaFile, `${JSON.stringify(older)}\n`);
    await stopGuest(without, guest);

    // Restored by a driver that boots new VMs with the balloon: the device list is the snapshot's.
    const woken = await wake(withBalloon, spec, snap);
    expect((await woken.client.status()).boot_id).toBe(bootId);
    expect(await balloonBound(woken)).toBe(false);
    await stopGuest(withBalloon, woken);
  }, 600_000);
});

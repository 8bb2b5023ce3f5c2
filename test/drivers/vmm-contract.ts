/**
 * The one contract every Vmm driver honours, run against each real driver by
 * vmm-contract-<driver>.test.ts (hono's shared router suite, kysely's per-dialect loop).
 * VMM-level cases run wherever the driver's binary is; guest-level checks (the guest agent
 * answers, a restored guest did not reboot) run only where that driver's guest boots here.
 * Differences between drivers are read from capabilities(), never from the driver's name.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMvmError } from '../../src/core/errors.ts';
import type { VmHandle, Vmm, VmmCapabilities, VmSpec } from '../../src/ports/vmm.ts';
import { expectConfined } from '../support/vmm-confinement.ts';
import { ContractVm } from './vmm-contract-fixture.ts';

export interface VmmContractOptions {
  /** Why the driver cannot run on this host at all (e.g. its binary is missing). */
  unavailable?: string;
  /** Under env CI an unavailable driver means a broken runner: fail instead of skipping. */
  requiredInCi?: boolean;
  /** Whether this driver's guest makes progress here; false: VMM-level checks only. */
  guestBoots: boolean;
  /** Why guest checks are skipped; printed loudly when guestBoots is false. */
  guestSkipReason?: string;
  /** The suite's one VM, its files under `workDir`. */
  spec(workDir: string): Promise<VmSpec>;
  /** Cold boot until the guest agent answers (TCG takes seconds). */
  guestReadyMs?: number;
  /** Attempts per case on top of the first, for upstream flakiness (see the fixture). */
  retry?: number;
  /**
   * Where a confined VM's root is (its chroot) on the host; with it, and a spec `runAs`,
   * the suite proves the VMM's confinement from /proc. Without, those checks skip loudly.
   */
  jailOf?: (vm: VmHandle) => string;
}

const BOOT_CASE_MS = 150_000;

export function vmmContract(
  name: string,
  makeDriver: () => Vmm | Promise<Vmm>,
  options: VmmContractOptions,
): void {
  if (options.unavailable !== undefined) {
    unavailableSuite(name, options.unavailable, options.requiredInCi === true);
    return;
  }
  if (!options.guestBoots) {
    const why = options.guestSkipReason ?? 'the guest cannot boot on this host';
    console.warn(`\n[skip] Vmm contract ${name}: GUEST CHECKS SKIPPED (VMM level only): ${why}\n`);
  }
  describe(`Vmm contract: ${name}`, () => contractCases(makeDriver, options));
}

function unavailableSuite(name: string, why: string, requiredInCi: boolean): void {
  const failHere = requiredInCi && process.env['CI'] !== undefined;
  console.warn(`\n!!! Vmm contract ${name}: ${why}; ${failHere ? 'CI requires it' : 'skipping'}\n`);
  describe(`Vmm contract: ${name}`, () => {
    if (failHere) {
      it('needs its hypervisor on this CI runner', () => {
        throw new Error(`${name} is unavailable on this CI runner: ${why}`);
      });
    } else {
      it.skip(`skipped: ${why}`, () => undefined);
    }
  });
}

function contractCases(makeDriver: () => Vmm | Promise<Vmm>, options: VmmContractOptions): void {
  const guestReadyMs = options.guestBoots ? (options.guestReadyMs ?? 90_000) : undefined;
  const caseOptions = { retry: options.retry ?? 0, timeout: BOOT_CASE_MS };
  let tmp = '';
  let live: ContractVm;
  let caps: VmmCapabilities;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'mvm-c-'));
    await mkdir(join(tmp, 'snaps'));
    const spec = await options.spec(join(tmp, 'vm'));
    const vmm = await makeDriver();
    caps = await vmm.capabilities();
    live = new ContractVm({ vmm, spec, snapsDir: join(tmp, 'snaps'), guestReadyMs });
  });

  afterAll(async () => {
    await live?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('reports its name and well-formed capability flags', () => {
    expect(['qemu', 'firecracker']).toContain(live.vmm.name);
    expect(typeof caps.diffSnapshots).toBe('boolean');
    expect(typeof caps.jailer).toBe('boolean');
    expect(['vsock', 'virtio-serial']).toContain(caps.guestChannel);
    expect(['kvm', 'tcg']).toContain(caps.accel);
    expect(typeof caps.confined).toBe('boolean');
    expect(caps.memOverheadMib).toBeGreaterThan(0);
  });

  /** Proves the VMM's confinement when the driver confines; says loudly when it does not. */
  async function confinedChecks(vm: VmHandle, label: string): Promise<boolean> {
    const runAs = live.spec.runAs;
    if (!caps.confined || runAs === undefined || options.jailOf === undefined) {
      const why = !caps.confined
        ? 'the driver does not confine here'
        : 'no runAs/jail in the suite';
      console.warn(`[skip] confinement of ${live.vmm.name} after ${label}: ${why}`);
      return false;
    }
    expect(vm.runAs).toEqual(runAs);
    await expectConfined(vm.pid, runAs, options.jailOf(vm));
    return true;
  }

  it(
    'confined: the VMM runs as the spec user, no capabilities, seccomp on, in its own root',
    caseOptions,
    async (ctx) => {
      const vm = await live.running();
      if (!(await confinedChecks(vm, 'start'))) ctx.skip();
    },
  );

  it('start: the VMM runs the guest and adopt finds it', caseOptions, async () => {
    const vm = await live.running();
    expect(vm.driver).toBe(live.vmm.name);
    expect(vm.pid).toBeGreaterThan(0);
    expect(await live.vmm.state(vm)).toBe('running');
    expect(await live.vmm.adopt(vm)).toEqual(vm);
    if (live.guestChecks) {
      expect(live.bootId).toMatch(/^[0-9a-f-]{36}$/);
      expect(await live.exec(vm, ['sh', '-c', 'echo $((6 * 7))'])).toBe('42\n');
    }
  });

  it('pause -> paused; resume -> running', caseOptions, async () => {
    const vm = await live.paused();
    expect(await live.vmm.state(vm)).toBe('paused');
    await live.vmm.resume(vm);
    expect(await live.vmm.state(vm)).toBe('running');
    if (live.guestChecks) expect((await live.guestReady(vm)).boot_id).toBe(live.bootId);
  });

  it('snapshot(full) of a paused VM leaves it paused', caseOptions, async () => {
    const { vm, ref } = await live.fullSnapshot();
    expect(ref.kind).toBe('full');
    expect(ref.sizeBytes).toBeGreaterThan(0);
    expect(ref.dir.startsWith(join(tmp, 'snaps'))).toBe(true);
    expect(await live.vmm.state(vm)).toBe('paused');
  });

  it('refuses a snapshot of a running VM with a clear error', caseOptions, async () => {
    const vm = await live.running();
    const refused = live.vmm.snapshot(vm, live.snapshotDir('running'), 'full');
    await expect(refused).rejects.toSatisfy(isMvmError);
    await expect(refused).rejects.toThrow(/pause it first/);
    expect(await live.vmm.state(vm)).toBe('running');
  });

  it('diff snapshots follow capabilities().diffSnapshots', caseOptions, async () => {
    if (caps.diffSnapshots) {
      const full = (await live.fullSnapshot()).ref;
      await live.running(); // the guest dirties pages between the two snapshots
      const vm = await live.paused();
      const diff = await live.vmm.snapshot(vm, live.snapshotDir('diff'), 'diff');
      expect(diff).toMatchObject({ kind: 'diff', base: { dir: full.dir } });
      live.diff = diff;
    } else {
      const vm = await live.paused();
      const refused = live.vmm.snapshot(vm, live.snapshotDir('diff'), 'diff');
      await expect(refused).rejects.toSatisfy(isMvmError);
      await expect(refused).rejects.toThrow(/diff snapshot/);
    }
  });

  it('stop -> exited; adopt returns null; stop again is a no-op', caseOptions, async () => {
    await live.anyFullSnapshot(); // the restore case needs one from this VM's lifetime
    const vm = await live.running();
    await live.stop(vm);
    expect(await live.vmm.state(vm)).toBe('exited');
    expect(await live.vmm.adopt(vm)).toBeNull();
    await live.vmm.stop(vm);
    expect(await live.vmm.state(vm)).toBe('exited');
    await live.discard();
  });

  it(
    'restore -> paused; resume -> running (guest checks: same boot, no reboot)',
    caseOptions,
    async () => {
      const full = await live.anyFullSnapshot();
      const bootId = live.snapshotBootId;
      await live.discard();
      const vm = live.track(await live.vmm.restore(live.spec, full));
      expect(await live.vmm.state(vm)).toBe('paused');
      expect(await live.vmm.adopt(vm)).toEqual(vm);
      await confinedChecks(vm, 'restore');
      await live.vmm.resume(vm);
      expect(await live.vmm.state(vm)).toBe('running');
      if (live.guestChecks) {
        expect((await live.guestReady(vm)).boot_id).toBe(bootId);
        expect(await live.exec(vm, ['sh', '-c', 'echo restored $((6 * 7))'])).toBe('restored 42\n');
      }
      await live.stop(vm);
      await live.vmm.stop(vm);
      expect(await live.vmm.state(vm)).toBe('exited');
    },
  );

  it('restores from a diff snapshot when the driver takes them', caseOptions, async (ctx) => {
    const diff = live.diff;
    if (!caps.diffSnapshots || !diff) {
      console.warn(`[skip] restore from diff: ${live.vmm.name} takes no diff snapshots`);
      ctx.skip();
      return;
    }
    const vm = live.track(await live.vmm.restore(live.spec, diff));
    expect(await live.vmm.state(vm)).toBe('paused');
    await live.stop(vm);
    expect(await live.vmm.state(vm)).toBe('exited');
  });

  if (!options.guestBoots) {
    const why = options.guestSkipReason ?? 'the guest cannot boot on this host';
    it.skip(`guest checks (agent answers, no reboot on restore) SKIPPED: ${why}`, () => undefined);
  }
}

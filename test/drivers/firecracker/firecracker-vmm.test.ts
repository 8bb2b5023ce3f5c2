/**
 * The Firecracker driver against a real Firecracker binary: the whole API lifecycle, unjailed
 * and through the jailer. The guest kernel need not make progress (on PVM hosts it does not);
 * every API step still runs for real. Skips, loudly, when a prerequisite is missing.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from 'vitest';
import { FirecrackerVmm } from '../../../src/drivers/firecracker/firecracker-vmm.ts';
import type { FirecrackerVmmConfig } from '../../../src/drivers/firecracker/firecracker-config.ts';
import {
  versionAtLeast,
  versionFromBinary,
} from '../../../src/drivers/firecracker/firecracker-version.ts';
import type { JailerConfig } from '../../../src/drivers/firecracker/vm-layout.ts';
import { NodeProcessRunner } from '../../../src/drivers/process/node-process-runner.ts';
import type { VmHandle, VmSpec } from '../../../src/ports/vmm.ts';
import {
  cgroup2Mount,
  cgroupLimit,
  createTap,
  deleteTap,
  ext4Image,
  firecrackerBin,
  guestKernel,
  hasKvm,
  isRoot,
  jailerBin,
  removeCgroups,
  systemClock,
} from './support/firecracker-env.ts';
import { expectConfined } from '../../support/vmm-confinement.ts';

const JAIL_UID = 10_000;
const INSTANCE = { uid: 2_000_000_904, gid: 2_000_000_904 };
const runner = new NodeProcessRunner();
const firecracker = firecrackerBin();
const kvm = hasKvm();
const missing = !firecracker.ok ? firecracker.why : !kvm.ok ? kvm.why : undefined;
if (missing) console.warn(`[skip] Firecracker driver integration tests: ${missing}`);
const version = firecracker.ok ? await versionFromBinary(runner, firecracker.value) : undefined;
if (version) console.info(`[firecracker] testing against Firecracker ${version.raw}`);
/**
 * Firecracker before 1.4 now and then loses an API request between its API and VMM threads
 * and never answers again (an upstream race, fixed in 1.4). The driver reports that as
 * `unavailable`; the test gets another attempt instead of failing on the upstream bug.
 */
const retry = version && !versionAtLeast(version, 1, 4) ? 2 : 0;

interface Fixture {
  tmp: string;
  kernel: string;
  rootfs: string;
  tap: string | undefined;
}

describe.skipIf(missing !== undefined)('FirecrackerVmm with a real Firecracker', () => {
  let fixture: Fixture | undefined;
  let kernelProblem = '';
  /** Every VM a test started, so a failed attempt leaves no VMM holding the tap. */
  const live: { vmm: FirecrackerVmm; vm: VmHandle }[] = [];

  beforeAll(async () => {
    const kernel = await guestKernel(runner);
    if (!kernel.ok) {
      kernelProblem = kernel.why;
      return;
    }
    // Short: Unix socket paths (inside the chroot too) must fit in 108 bytes.
    const tmp = await mkdtemp('/tmp/mvm-fc-');
    const rootfs = await ext4Image(runner, join(tmp, 'rootfs.ext4'), { 'hello.txt': 'rootfs\n' });
    const tap = `mvmfc${randomBytes(3).toString('hex')}`;
    const tapMade = isRoot() && (await createTap(runner, tap));
    fixture = { tmp, kernel: kernel.value, rootfs, tap: tapMade ? tap : undefined };
  });

  afterEach(async () => {
    for (const { vmm, vm } of live.splice(0)) await vmm.stop(vm).catch(() => undefined);
  });

  afterAll(async () => {
    if (!fixture) return;
    if (fixture.tap) await deleteTap(runner, fixture.tap);
    await rm(fixture.tmp, { recursive: true, force: true });
  });

  function need(ctx: TestContext): Fixture {
    if (!fixture) {
      console.warn(`[skip] Firecracker lifecycle: no guest kernel: ${kernelProblem}`);
      ctx.skip();
    }
    return fixture as Fixture;
  }

  /** A fresh directory and key per attempt, so a retried test starts clean. */
  async function specFor(fx: Fixture, name: string): Promise<{ spec: VmSpec; dir: string }> {
    const unique = `${name}-${randomBytes(3).toString('hex')}`;
    const dir = join(fx.tmp, unique);
    await mkdir(dir, { recursive: true });
    const data = await ext4Image(runner, join(dir, 'data.ext4'), { 'note.txt': 'data\n' });
    const spec: VmSpec = {
      key: `mvm-fc-${unique}`,
      workDir: join(dir, 'vm'),
      vcpus: 1,
      memMib: 128,
      kernelPath: fx.kernel,
      cmdline: 'console=ttyS0 reboot=k panic=1 root=/dev/vda ro',
      drives: [
        { id: 'rootfs', path: fx.rootfs, readOnly: true },
        { id: 'data', path: data, readOnly: false },
      ],
      nets: fx.tap ? [{ id: 'eth0', tap: fx.tap, mac: '06:00:ac:10:00:02' }] : [],
    };
    return { spec, dir };
  }

  function driver(jailer?: JailerConfig): FirecrackerVmm {
    const config: FirecrackerVmmConfig = {
      firecrackerBin: firecracker.ok ? firecracker.value : '',
      runner,
      clock: systemClock,
      // The guest never reacts to Ctrl-Alt-Del on a PVM host; do not wait long for it.
      timeouts: { gracefulStopMs: 300, apiRequestMs: 10_000, apiProbeMs: 2_000 },
      ...(jailer ? { jailer } : {}),
    };
    return new FirecrackerVmm(config);
  }

  async function track(vmm: FirecrackerVmm, started: Promise<VmHandle>): Promise<VmHandle> {
    const vm = await started;
    live.push({ vmm, vm });
    return vm;
  }

  /** Jailed: the VMM runs as the spec's user, in its jail, with seccomp on and no capability. */
  async function expectJailed(vm: VmHandle, spec: VmSpec): Promise<void> {
    if (!spec.runAs) return;
    expect(vm.runAs).toEqual(spec.runAs);
    await expectConfined(vm.pid, spec.runAs, dirname(vm.controlSocket));
  }

  async function lifecycle(vmm: FirecrackerVmm, spec: VmSpec, snaps: string): Promise<void> {
    const vm = await track(vmm, vmm.start(spec));
    expect(await vmm.state(vm)).toBe('running');
    await expectJailed(vm, spec);
    expect(existsSync(vm.guestSocket)).toBe(true);
    expect(await vmm.adopt(vm)).toEqual(vm);

    await vmm.pause(vm);
    expect(await vmm.state(vm)).toBe('paused');
    const full = await vmm.snapshot(vm, join(snaps, 'full'), 'full');
    expect(full).toMatchObject({ kind: 'full', dir: join(snaps, 'full') });
    expect(full.sizeBytes).toBeGreaterThan(0);
    expect(await vmm.state(vm)).toBe('paused');
    await expect(vmm.snapshot(vm, join(snaps, 'full'), 'full')).rejects.toThrow(/already exists/);

    await vmm.resume(vm);
    expect(await vmm.state(vm)).toBe('running');
    await expect(vmm.snapshot(vm, join(snaps, 'nope'), 'full')).rejects.toThrow(/pause it first/);
    await vmm.pause(vm);
    const diff = await vmm.snapshot(vm, join(snaps, 'diff'), 'diff');
    expect(diff.kind).toBe('diff');
    expect(diff.base?.dir).toBe(full.dir);

    await vmm.stop(vm);
    expect(await vmm.state(vm)).toBe('exited');
    expect(await vmm.adopt(vm)).toBeNull();
    await vmm.stop(vm); // idempotent

    const restored = await track(vmm, vmm.restore(spec, full));
    expect(restored.pid).not.toBe(vm.pid);
    expect(await vmm.state(restored)).toBe('paused');
    await expectJailed(restored, spec);
    await vmm.resume(restored);
    expect(await vmm.state(restored)).toBe('running');
    await vmm.stop(restored);
    expect(await vmm.state(restored)).toBe('exited');

    // A diff restores through a memory file merged from its chain.
    const fromDiff = await track(vmm, vmm.restore(spec, diff));
    expect(await vmm.state(fromDiff)).toBe('paused');
    await vmm.stop(fromDiff);

    const log = await readFile(join(spec.workDir, 'firecracker.log'), 'utf8');
    // The logger comes with the command line: Info level, levels shown, from the start on.
    expect(log).toMatch(/:INFO\] The API server received a Put request on "\/metrics"/);
    expect(log).toMatch(/:INFO\] The API server received a Put request on "\/snapshot\/load"/);
  }

  it(
    'drives start, pause, full and diff snapshots, stop and restore (unjailed)',
    { retry },
    async (ctx) => {
      const fx = need(ctx);
      const { spec, dir } = await specFor(fx, 'direct');
      const vmm = driver();
      expect(await vmm.capabilities()).toEqual({
        diffSnapshots: true,
        jailer: false,
        confined: false,
        memOverheadMib: 32,
        guestChannel: 'vsock',
        accel: 'kvm',
        drivesInPlace: true,
      });
      await lifecycle(vmm, spec, join(dir, 'snapshots'));
    },
  );

  it(
    "moves an unjailed Firecracker into the spec's cgroup before configuring it",
    { retry },
    async (ctx) => {
      const fx = need(ctx);
      const mount = await cgroup2Mount();
      if (!isRoot() || mount === undefined) {
        console.warn(`[skip] VmSpec.cgroupDirs: ${!isRoot() ? 'needs root' : 'no cgroup2 mount'}`);
        ctx.skip();
        return;
      }
      const { spec } = await specFor(fx, 'cgdir');
      const cgroupDir = join(mount, `mvm-test-${randomBytes(3).toString('hex')}`);
      await mkdir(cgroupDir);
      try {
        const vmm = driver();
        const vm = await track(vmm, vmm.start({ ...spec, cgroupDirs: [cgroupDir] }));
        const procs = await readFile(join(cgroupDir, 'cgroup.procs'), 'utf8');
        expect(procs.split('\n')).toContain(String(vm.pid));
        await vmm.stop(vm);
      } finally {
        for (const { vmm: owner, vm } of live.splice(0))
          await owner.stop(vm).catch(() => undefined);
        await removeCgroups(runner, [cgroupDir]);
      }
    },
  );

  it(
    'runs the same lifecycle through the jailer (chroot, the instance uid/gid, seccomp)',
    { retry },
    async (ctx) => {
      const fx = need(ctx);
      const jailer = jailerBin();
      if (!jailer.ok || !isRoot()) {
        console.warn(
          `[skip] jailer lifecycle: ${!jailer.ok ? jailer.why : 'the jailer needs root'}`,
        );
        ctx.skip();
        return;
      }
      const made = await specFor(fx, 'jailed');
      // The instance's own identity, as the agent gives it; the jailer's default is not used.
      const spec = { ...made.spec, runAs: INSTANCE };
      const chrootBaseDir = join(fx.tmp, 'jail');
      const vmm = driver({ jailerBin: jailer.value, uid: JAIL_UID, gid: JAIL_UID, chrootBaseDir });
      expect(await vmm.capabilities()).toMatchObject({ jailer: true, confined: true });
      const snaps = join(made.dir, 'snapshots');
      await lifecycle(vmm, spec, snaps);
      // Firecracker wrote the snapshot inside its jail as the instance user (then moved out),
      // read it back in a fresh jail, and the jail is gone after stop.
      expect((await stat(join(snaps, 'full', 'memory'))).uid).toBe(INSTANCE.uid);
      expect(existsSync(join(chrootBaseDir, 'firecracker', spec.key))).toBe(false);
      await chown(spec.drives[1]?.path ?? '', 0, 0);
    },
  );

  it(
    'bind-mounts files from another filesystem into the jail: a tmpfs secret is never copied to disk',
    { retry },
    async (ctx) => {
      const fx = need(ctx);
      const jailer = jailerBin();
      if (!jailer.ok || !isRoot() || !existsSync('/dev/shm')) {
        console.warn(
          `[skip] jail bind mounts: ${!jailer.ok ? jailer.why : 'needs root and /dev/shm'}`,
        );
        ctx.skip();
        return;
      }
      const made = await specFor(fx, 'bind');
      const shm = await mkdtemp('/dev/shm/mvm-fc-');
      try {
        // A private (0600 root) read-only drive on tmpfs, as the agent's secrets drive is.
        const secret = await ext4Image(runner, join(shm, 'secrets.ext4'), { 'k.txt': 'v\n' });
        await chmod(secret, 0o600);
        const spec = {
          ...made.spec,
          runAs: INSTANCE,
          drives: [...made.spec.drives, { id: 'secrets', path: secret, readOnly: true }],
        };
        const chrootBaseDir = join(fx.tmp, 'jail');
        const vmm = driver({
          jailerBin: jailer.value,
          uid: JAIL_UID,
          gid: JAIL_UID,
          chrootBaseDir,
        });
        const vm = await track(vmm, vmm.start(spec));
        const jailRoot = dirname(vm.controlSocket);
        const inJail = join(jailRoot, 'drives', 'secrets.img');
        // Mounted, not copied: the jail's entry is on tmpfs, the jail user's copy beside the original.
        const seen = await stat(inJail);
        const copy = await stat(`${secret}.jail`);
        expect({ dev: seen.dev, ino: seen.ino }).toEqual({ dev: copy.dev, ino: copy.ino });
        expect(seen.dev).not.toBe((await stat(jailRoot)).dev);
        expect({ uid: copy.uid, mode: copy.mode & 0o777 }).toEqual({
          uid: INSTANCE.uid,
          mode: 0o400,
        });
        expect((await stat(secret)).mode & 0o777).toBe(0o600);
        // The VMM sees the image's bytes at its path in the chroot.
        const fromVmm = await readFile(join(`/proc/${vm.pid}/root`, 'drives', 'secrets.img'));
        expect(fromVmm.equals(await readFile(secret))).toBe(true);
        await vmm.stop(vm);
        const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
        expect(mountinfo).not.toContain(chrootBaseDir);
        expect(existsSync(join(chrootBaseDir, 'firecracker', spec.key))).toBe(false);
        await chown(spec.drives[1]?.path ?? '', 0, 0);
      } finally {
        await rm(shm, { recursive: true, force: true });
      }
    },
  );

  it(
    'lets the jailer put Firecracker in a cgroup v2 group, wherever cgroup2 is mounted',
    { retry },
    async (ctx) => {
      const fx = need(ctx);
      const jailer = jailerBin();
      const mount = await cgroup2Mount();
      if (!jailer.ok || !isRoot() || mount === undefined) {
        const why = !jailer.ok ? jailer.why : !isRoot() ? 'needs root' : 'no cgroup2 mount';
        console.warn(`[skip] jailer cgroup v2: ${why}`);
        ctx.skip();
        return;
      }
      const limit = await cgroupLimit(mount);
      if (!limit) {
        console.warn(
          `[skip] jailer cgroup v2: no usable controller in ${mount}/cgroup.controllers`,
        );
        ctx.skip();
        return;
      }
      const { spec } = await specFor(fx, 'cgroup');
      const parent = `mvm-test-${randomBytes(3).toString('hex')}`;
      const before = await readFile(join(mount, 'cgroup.subtree_control'), 'utf8');
      const vmm = driver({
        jailerBin: jailer.value,
        uid: JAIL_UID,
        gid: JAIL_UID,
        chrootBaseDir: join(fx.tmp, 'jail'),
        cgroupVersion: 2,
        parentCgroup: parent,
        cgroups: { [limit.file]: limit.value },
      });
      const leaf = join(mount, parent, spec.key);
      try {
        const vm = await track(vmm, vmm.start(spec));
        expect((await readFile(join(leaf, 'cgroup.procs'), 'utf8')).split('\n')).toContain(
          String(vm.pid),
        );
        expect((await readFile(join(leaf, limit.file), 'utf8')).trim()).toBe(limit.value);
        await vmm.stop(vm);
      } finally {
        for (const { vmm: owner, vm } of live.splice(0))
          await owner.stop(vm).catch(() => undefined);
        await removeCgroups(runner, [leaf, join(mount, parent)]);
        // The jailer enables the controller on the way down; give the host back what it had.
        if (!before.split(/\s+/).includes(limit.controller)) {
          await writeFile(join(mount, 'cgroup.subtree_control'), `-${limit.controller}`).catch(
            () => undefined,
          );
        }
      }
    },
  );
});

import { describe, expect, it } from 'vitest';
import {
  guestCmdline,
  opt,
  qemuArgs,
  qemuPaths,
  tscKhzFromCpuinfo,
} from '../../../src/drivers/qemu/qemu-args.ts';
import { launchCommand } from '../../../src/drivers/qemu/qemu-confine.ts';
import { fdLayout } from '../../../src/drivers/qemu/qemu-fds.ts';
import type { VmSpec } from '../../../src/ports/vmm.ts';

const spec: VmSpec = {
  key: 'mvm-t1-p1-i1',
  workDir: '/run/mvm/vms/i1',
  vcpus: 2,
  memMib: 256,
  kernelPath: '/img/vmlinux',
  initrdPath: '/img/initrd.cpio.gz',
  cmdline: 'console=ttyS0 quiet',
  drives: [
    { id: 'data', path: '/vm/data.ext4', readOnly: false },
    { id: 'config', path: '/vm/cfg,v2.ext4', readOnly: true },
  ],
  nets: [{ id: 'eth0', tap: 'mvm-tap-i1', mac: '52:54:00:00:00:01' }],
};

/** The value following each occurrence of a flag. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((arg, i) => (arg === flag ? [args[i + 1] ?? ''] : []));
}

describe('qemuArgs', () => {
  const paths = qemuPaths(spec.workDir);
  const fds = fdLayout(spec);
  const tcg = qemuArgs({ spec, accel: 'tcg', tscKhz: 2445430, paths, fds });

  it('builds a microvm with ACPI (virtio-mmio discovery needs it) and no defaults', () => {
    expect(values(tcg, '-M')).toEqual(['microvm,acpi=on']);
    expect(tcg).toEqual(expect.arrayContaining(['-nodefaults', '-no-user-config', '-no-reboot']));
    expect(values(tcg, '-display')).toEqual(['none']);
    expect(values(tcg, '-m')).toEqual(['256']);
    expect(values(tcg, '-smp')).toEqual(['2']);
  });

  it('uses TCG with -cpu max and a bounded translation cache, or KVM with host CPU minus arch-capabilities', () => {
    expect(values(tcg, '-accel')).toEqual(['tcg,tb-size=16']);
    expect(values(tcg, '-cpu')).toEqual(['max']);
    const kvm = qemuArgs({ spec, accel: 'kvm', paths, fds });
    expect(values(kvm, '-accel')).toEqual(['kvm']);
    expect(values(kvm, '-cpu')).toEqual(['host,-arch-capabilities']);
  });

  it('sends the console to a log file and QMP to a unix socket in the work dir', () => {
    expect(values(tcg, '-chardev')).toContain(
      'file,id=console,path=/run/mvm/vms/i1/console.log,append=on',
    );
    expect(values(tcg, '-serial')).toEqual(['chardev:console']);
    expect(values(tcg, '-qmp')).toEqual(['unix:/run/mvm/vms/i1/qmp.sock,server=on,wait=off']);
    expect(values(tcg, '-pidfile')).toEqual(['/run/mvm/vms/i1/qemu.pid']);
  });

  it('attaches drives in order from inherited fd sets, read-only where asked', () => {
    expect(fds.opens).toEqual([
      { path: '/vm/data.ext4', mode: 'r+' },
      { path: '/vm/data.ext4', mode: 'r' },
      { path: '/vm/cfg,v2.ext4', mode: 'r' },
    ]);
    // A writable drive's set holds a read-write and a read-only fd: QEMU probes read-only first.
    expect(values(tcg, '-add-fd')).toEqual([
      'fd=3,set=1,opaque=drive-data',
      'fd=4,set=1,opaque=drive-data',
      'fd=5,set=2,opaque=drive-config',
    ]);
    expect(values(tcg, '-drive')).toEqual([
      'id=drive-data,file=/dev/fdset/1,file.locking=off,format=raw,if=none',
      'id=drive-config,file=/dev/fdset/2,file.locking=off,format=raw,if=none,readonly=on',
    ]);
    expect(tcg.join(' ')).not.toContain('/vm/');
    const devices = values(tcg, '-device');
    expect(devices.slice(0, 2)).toEqual([
      'virtio-blk-device,drive=drive-data',
      'virtio-blk-device,drive=drive-config',
    ]);
  });

  it('attaches taps as virtio-net-device with the given mac', () => {
    expect(values(tcg, '-netdev')).toEqual([
      'tap,id=net-eth0,ifname=mvm-tap-i1,script=no,downscript=no',
    ]);
    expect(values(tcg, '-device')).toContain(
      'virtio-net-device,netdev=net-eth0,mac=52:54:00:00:00:01',
    );
  });

  it('takes taps as descriptors after every opened file when they are passed that way', () => {
    const restoreFds = fdLayout(spec, '/snap/vm.state', true);
    // Three drive fds (3-5), the migration stream (6), then the tap.
    expect(restoreFds.tapFds).toEqual([{ ifname: 'mvm-tap-i1', fd: 7 }]);
    expect(restoreFds.opens.map((o) => o.path)).not.toContain('mvm-tap-i1');
    const args = qemuArgs({ spec, accel: 'tcg', paths, fds: restoreFds });
    expect(values(args, '-netdev')).toEqual(['tap,id=net-eth0,fd=7,vhost=off']);
    expect(args.join(' ')).not.toContain('ifname=');
    expect(fdLayout(spec, undefined, true).tapFds).toEqual([{ ifname: 'mvm-tap-i1', fd: 6 }]);
    expect(fdLayout({ ...spec, nets: [] }, undefined, true).tapFds).toBeUndefined();
    expect(fdLayout(spec).tapFds).toBeUndefined();
    const unmanaged = { ...spec, nets: spec.nets.map((n) => ({ ...n, transient: true })) };
    expect(fdLayout(unmanaged, undefined, true).tapFds).toEqual([
      { ifname: 'mvm-tap-i1', fd: 6, transient: true },
    ]);
  });

  it('wires the agent channel as a virtserialport named mvm.agent on a socket chardev', () => {
    expect(values(tcg, '-chardev')).toContain(
      'socket,id=agent,path=/run/mvm/vms/i1/agent.sock,server=on,wait=off',
    );
    expect(values(tcg, '-device')).toEqual(
      expect.arrayContaining([
        'virtio-serial-device,id=vser0',
        'virtserialport,bus=vser0.0,chardev=agent,name=mvm.agent',
      ]),
    );
  });

  it('boots the kernel with tsc_early_khz under TCG only', () => {
    expect(values(tcg, '-kernel')).toEqual(['/img/vmlinux']);
    expect(values(tcg, '-initrd')).toEqual(['/img/initrd.cpio.gz']);
    expect(values(tcg, '-append')).toEqual(['console=ttyS0 quiet tsc_early_khz=2445430']);
    const kvm = qemuArgs({ spec, accel: 'kvm', tscKhz: 2445430, paths, fds });
    expect(values(kvm, '-append')).toEqual(['console=ttyS0 quiet']);
  });

  it('adds -S and -incoming defer only when asked', () => {
    expect(tcg).not.toContain('-S');
    expect(tcg).not.toContain('-incoming');
    const restore = qemuArgs({ spec, accel: 'tcg', paths, fds, paused: true, incoming: true });
    expect(restore).toContain('-S');
    expect(values(restore, '-incoming')).toEqual(['defer']);
    // The migration stream comes after the drives' descriptors.
    expect(fdLayout(spec, '/snap/vm.state').incomingFd).toBe(6);
  });

  it('confines only when asked: sandbox, then -runas and -chroot with the instance identity', () => {
    for (const flag of ['-sandbox', '-runas', '-chroot']) expect(tcg).not.toContain(flag);
    const confine = {
      seccomp: true,
      runAs: { uid: 2000000007, gid: 2000000007 },
      chrootDir: paths.jailDir,
    };
    const confined = qemuArgs({ spec, accel: 'tcg', paths, fds, confine });
    expect(values(confined, '-sandbox')).toEqual([
      'on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny',
    ]);
    expect(values(confined, '-runas')).toEqual(['2000000007:2000000007']);
    expect(values(confined, '-chroot')).toEqual(['/run/mvm/vms/i1/jail']);
    // Without a user to drop to, QEMU may not touch its ids at all.
    const seccompOnly = qemuArgs({ spec, accel: 'tcg', paths, fds, confine: { seccomp: true } });
    expect(values(seccompOnly, '-sandbox')).toEqual([
      'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    ]);
    expect(seccompOnly).not.toContain('-runas');
  });

  it('puts QEMU behind setpriv with only the capabilities it uses before dropping them', () => {
    const confinement = { seccomp: true, dropPrivileges: true, setpriv: 'setpriv' };
    const launch = { seccomp: true, runAs: { uid: 7, gid: 7 }, chrootDir: '/j' };
    expect(launchCommand('qemu', ['-x'], confinement, launch, { byName: true })).toEqual([
      'setpriv',
      ['--bounding-set', '-all,+sys_chroot,+setuid,+setgid,+net_admin', '--', 'qemu', '-x'],
    ]);
    expect(launchCommand('qemu', ['-x'], confinement, launch)[1][1]).toBe(
      '-all,+sys_chroot,+setuid,+setgid',
    );
    expect(
      launchCommand('qemu', ['-x'], { ...confinement, setpriv: undefined }, launch, {
        byName: true,
      }),
    ).toEqual(['qemu', ['-x']]);
  });

  it('puts mvm-tapfd in front when the taps come as descriptors, and keeps no net_admin', () => {
    const confinement = { seccomp: true, dropPrivileges: true, setpriv: 'setpriv', tapfd: '/t' };
    const launch = { seccomp: true, runAs: { uid: 7, gid: 7 }, chrootDir: '/j' };
    const taps = {
      fds: [
        { ifname: 'mvt5-3', fd: 6 },
        { ifname: 'mvt5-4', fd: 7 },
      ],
    };
    expect(launchCommand('qemu', ['-x'], confinement, launch, taps)).toEqual([
      '/t',
      [
        ...['mvt5-3', '6', 'mvt5-4', '7', '--'],
        ...['setpriv', '--bounding-set', '-all,+sys_chroot,+setuid,+setgid', '--', 'qemu', '-x'],
      ],
    ]);
    const transient = { fds: [{ ifname: 'mvt5-3', fd: 6, transient: true }] };
    expect(launchCommand('qemu', ['-x'], confinement, launch, transient)[1].slice(0, 4)).toEqual([
      '--transient',
      'mvt5-3',
      '6',
      '--',
    ]);
    expect(() =>
      launchCommand('qemu', ['-x'], { ...confinement, tapfd: undefined }, launch, taps),
    ).toThrow(/mvm-tapfd/);
  });
});

describe('guestCmdline and host TSC', () => {
  it('keeps an explicit tsc_early_khz', () => {
    expect(guestCmdline('quiet tsc_early_khz=1000', 'tcg', 2000)).toBe('quiet tsc_early_khz=1000');
  });
  it('reads cpu MHz as kHz', () => {
    expect(tscKhzFromCpuinfo('processor\t: 0\ncpu MHz\t\t: 2445.430\n')).toBe(2445430);
    expect(tscKhzFromCpuinfo('processor\t: 0\n')).toBeUndefined();
  });
  it('doubles commas in option values', () => {
    expect(opt('a,b,,c')).toBe('a,,b,,,,c');
  });
});

describe('the free-page-reporting balloon', () => {
  const spec2 = {
    key: 'b1',
    workDir: '/run/mvm/vms/b1',
    vcpus: 1,
    memMib: 256,
    kernelPath: '/img/vmlinux',
    cmdline: 'console=ttyS0 quiet',
    drives: [],
    nets: [],
  };
  const paths2 = qemuPaths(spec2.workDir);
  const fds2 = fdLayout(spec2);
  it('adds the virtio-mmio balloon and page_reporting_order=0 only when asked', () => {
    const plain = qemuArgs({ spec: spec2, accel: 'kvm', paths: paths2, fds: fds2 });
    expect(plain.join(' ')).not.toContain('balloon');
    expect(plain.join(' ')).not.toContain('page_reporting');
    const withBalloon = qemuArgs({
      spec: spec2,
      accel: 'kvm',
      paths: paths2,
      fds: fds2,
      balloon: true,
    });
    expect(withBalloon).toContain(
      'virtio-balloon-device,id=balloon0,free-page-reporting=on,deflate-on-oom=on',
    );
    expect(withBalloon[withBalloon.indexOf('-append') + 1]).toBe(
      'console=ttyS0 quiet page_reporting.page_reporting_order=0',
    );
  });
  it("keeps an image's own reporting order", () => {
    expect(
      guestCmdline('quiet page_reporting.page_reporting_order=3', 'kvm', undefined, true),
    ).toBe('quiet page_reporting.page_reporting_order=3');
  });
});

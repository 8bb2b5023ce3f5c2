import { describe, expect, it } from 'vitest';
import { parseFilefrag } from '../../../src/drivers/firecracker/diff-merge.ts';
import {
  parseFirecrackerVersion,
  versionAtLeast,
} from '../../../src/drivers/firecracker/firecracker-version.ts';
import { planLoad } from '../../../src/drivers/firecracker/load-snapshot.ts';
import { apiShapesFor } from '../../../src/drivers/firecracker/requests.ts';
import {
  jailRootFor,
  jailerArgs,
  layoutFromHandle,
  vmLayout,
} from '../../../src/drivers/firecracker/vm-layout.ts';
import type { VmSpec } from '../../../src/ports/vmm.ts';

const v = (text: string) => {
  const parsed = parseFirecrackerVersion(text);
  if (!parsed) throw new Error(text);
  return parsed;
};

describe('Firecracker versions', () => {
  it('reads every form Firecracker prints', () => {
    expect(v('Firecracker v1.0.0-44-gc73a27cb-dirty\n\nSupported snapshot ...')).toMatchObject({
      major: 1,
      minor: 0,
      patch: 0,
      raw: '1.0.0-44-gc73a27cb-dirty',
    });
    expect(v('1.16.1')).toMatchObject({ major: 1, minor: 16, patch: 1 });
    expect(parseFirecrackerVersion('no version here')).toBeUndefined();
  });

  it('compares numerically', () => {
    expect(versionAtLeast(v('1.10.0'), 1, 9)).toBe(true);
    expect(versionAtLeast(v('1.0.9'), 1, 1)).toBe(false);
    expect(versionAtLeast(v('2.0.0'), 1, 16)).toBe(true);
  });
});

describe('filefrag extent parsing', () => {
  it('turns written extents into byte ranges and skips unwritten ones', () => {
    const output = [
      'Filesystem type is: ef53',
      'File size of memory is 1048576 (256 blocks of 4096 bytes)',
      ' ext:     logical_offset:        physical_offset: length:   expected: flags:',
      '   0:        3..       3:    5987075..   5987075:      1:          3:',
      '   1:       10..      12:    5987082..   5987084:      3:             ',
      '   2:       20..      29:    5987090..   5987099:     10:             last,unwritten,eof',
      'memory: 3 extents found',
    ].join('\n');
    expect(parseFilefrag(output)).toEqual([
      { offset: 3 * 4096, length: 4096 },
      { offset: 10 * 4096, length: 3 * 4096 },
    ]);
  });
});

describe('VM layout', () => {
  it('puts everything in the work dir when unjailed', () => {
    const layout = vmLayout('/w', undefined);
    expect(layout.apiSocket).toEqual({ host: '/w/firecracker.sock', vmm: '/w/firecracker.sock' });
    expect(
      layoutFromHandle({ workDir: '/w', controlSocket: '/w/firecracker.sock' }).jailRoot,
    ).toBeUndefined();
  });

  it('uses chroot-relative paths when jailed, and recovers the jail from a handle', () => {
    const jailer = { jailerBin: '/j', uid: 1, gid: 2, chrootBaseDir: '/srv/jail' };
    const root = jailRootFor(jailer, '/opt/fc/firecracker', 'mvm-a');
    expect(root).toBe('/srv/jail/firecracker/mvm-a/root');
    const layout = vmLayout('/w', root);
    expect(layout.vsock).toEqual({ host: `${root}/vsock.sock`, vmm: '/vsock.sock' });
    expect(layoutFromHandle({ workDir: '/w', controlSocket: layout.apiSocket.host }).jailRoot).toBe(
      root,
    );
  });

  it('builds jailer arguments as an array, cgroup and netns included', () => {
    const args = jailerArgs(
      {
        jailerBin: '/j',
        uid: 10000,
        gid: 10000,
        chrootBaseDir: '/srv/jail',
        cgroupVersion: 2,
        parentCgroup: 'mvm',
        cgroups: { 'pids.max': '100' },
        netnsFor: (key) => `/var/run/netns/${key}`,
      },
      '/opt/fc/firecracker',
      'mvm-a',
      '/firecracker.sock',
    );
    expect(args).toEqual([
      '--id',
      'mvm-a',
      '--exec-file',
      '/opt/fc/firecracker',
      '--uid',
      '10000',
      '--gid',
      '10000',
      '--chroot-base-dir',
      '/srv/jail',
      '--cgroup-version',
      '2',
      '--parent-cgroup',
      'mvm',
      '--cgroup',
      'pids.max=100',
      '--netns',
      '/var/run/netns/mvm-a',
      '--',
      '--api-sock',
      '/firecracker.sock',
    ]);
  });
});

describe('snapshot load planning', () => {
  const spec = {
    nets: [{ id: 'eth0', tap: 'tap-new', mac: '06:00:00:00:00:01' }],
  } as unknown as VmSpec;
  const meta = {
    kind: 'full' as const,
    firecrackerVersion: '1.0.0',
    vsockVmmPath: '/old/vsock.sock',
    taps: [{ ifaceId: 'eth0', tap: 'tap-old' }],
    createdAt: '',
  };
  const inputs = {
    vmstate: { host: '/s/vmstate', vmm: '/s/vmstate' },
    memory: { host: '/s/memory', vmm: '/s/memory' },
  };

  it('moves the vsock and taps when the version can', () => {
    const plan = planLoad(
      vmLayout('/w', undefined),
      spec,
      meta,
      inputs,
      apiShapesFor(v('1.16.1')),
      true,
    );
    expect(plan.guestSocket).toBe('/w/vsock.sock');
    expect(plan.request.body).toMatchObject({
      vsock_override: { uds_path: '/w/vsock.sock' },
      network_overrides: [{ iface_id: 'eth0', host_dev_name: 'tap-new' }],
    });
  });

  it('refuses changed taps on a version without network_overrides, and keeps the saved vsock', () => {
    expect(() =>
      planLoad(vmLayout('/w', undefined), spec, meta, inputs, apiShapesFor(v('1.0.0')), true),
    ).toThrow(/cannot override them on restore/);
    const sameTaps = { ...meta, taps: [{ ifaceId: 'eth0', tap: 'tap-new' }] };
    const plan = planLoad(
      vmLayout('/w', undefined),
      spec,
      sameTaps,
      inputs,
      apiShapesFor(v('1.0.0')),
      true,
    );
    expect(plan.guestSocket).toBe('/old/vsock.sock');
    expect(plan.request.body).not.toHaveProperty('vsock_override');
  });
});

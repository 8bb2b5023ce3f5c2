import { describe, expect, it } from 'vitest';
import { findCgroup2Mount } from '../../../src/drivers/cgroup-v2/cgroup2-mount.ts';

const hybrid = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

const unified = [
  '22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
  '26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate',
].join('\n');

describe('findCgroup2Mount', () => {
  it('finds the unified hierarchy of a hybrid host', () => {
    expect(findCgroup2Mount(hybrid)).toBe('/sys/fs/cgroup/unified');
  });

  it('reads past optional fields on a unified host', () => {
    expect(findCgroup2Mount(unified)).toBe('/sys/fs/cgroup');
  });

  it('is undefined without a cgroup2 mount', () => {
    expect(findCgroup2Mount(hybrid.split('\n').slice(0, 3).join('\n'))).toBeUndefined();
    expect(findCgroup2Mount('')).toBeUndefined();
  });

  it('prefers the hierarchy root over a bind mount of a sub-cgroup, and unescapes paths', () => {
    const text = [
      '50 22 0:23 /system.slice /mnt/sub rw - cgroup2 cgroup2 rw',
      '51 22 0:23 / /run/my\\040cgroup rw - cgroup2 cgroup2 rw',
    ].join('\n');
    expect(findCgroup2Mount(text)).toBe('/run/my cgroup');
  });
});

import { expect, it } from 'vitest';
import { runHostChecks, type HostProbe } from '../../src/agent/join/host-checks.ts';
import { nodeIdFromHostname } from '../../src/agent/join/host-facts.ts';

function probe(overrides: Partial<HostProbe> = {}): HostProbe {
  return {
    canOpen: () => Promise.resolve(true),
    which: (command) => Promise.resolve(`/usr/bin/${command}`),
    cgroup2Mount: () => Promise.resolve('/sys/fs/cgroup'),
    ...overrides,
  };
}

it('passes a host with KVM, cgroup v2, nft and a hypervisor', async () => {
  const checks = await runHostChecks(probe());
  expect(checks.map((c) => [c.name, c.ok])).toEqual([
    ['/dev/kvm', true],
    ['cgroup v2', true],
    ['nft', true],
    ['e2fsprogs', true],
    ['hypervisor', true],
  ]);
  expect(checks[4]?.detail).toBe('/usr/bin/qemu-system-x86_64, /usr/bin/firecracker');
});

it('reports every missing piece with what to do, not just the first', async () => {
  const checks = await runHostChecks(
    probe({
      canOpen: () => Promise.resolve(false),
      which: () => Promise.resolve(undefined),
      cgroup2Mount: () => Promise.resolve(undefined),
    }),
  );
  expect(checks.every((c) => !c.ok)).toBe(true);
  expect(checks.map((c) => c.detail).join('\n')).toMatch(
    /install nftables[\s\S]*install e2fsprogs[\s\S]*Firecracker/,
  );
});

it('finds a Firecracker-only host through the configured binary (MVM_FIRECRACKER_BIN)', async () => {
  const checks = await runHostChecks(
    probe({
      which: (command) => Promise.resolve(command === '/opt/fc' ? '/opt/fc' : undefined),
    }),
    { qemu: 'qemu-system-x86_64', firecracker: '/opt/fc' },
  );
  expect(checks.find((c) => c.name === 'hypervisor')).toMatchObject({
    ok: true,
    detail: '/opt/fc',
  });
});

it('derives a valid node id from a host name', () => {
  expect(nodeIdFromHostname('KVM-01.rack3.example.com')).toBe('kvm-01');
  expect(nodeIdFromHostname('host_with_underscores')).toBe('host-with-underscores');
  expect(nodeIdFromHostname('---')).toBe('node');
});

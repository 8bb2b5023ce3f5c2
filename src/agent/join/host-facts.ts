import { statfs } from 'node:fs/promises';
import { arch, availableParallelism, hostname, totalmem } from 'node:os';
import type { NodeCapacity } from '../../core/model.ts';

const ARCH_NAMES: Readonly<Record<string, string>> = { x64: 'x86_64', arm64: 'aarch64' };

/** A node id from a host name: lower case, a-z0-9 and '-', at most 63 characters. */
export function nodeIdFromHostname(name: string): string {
  const cleaned = name
    .toLowerCase()
    .split('.')[0]
    ?.replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return cleaned === undefined || cleaned === '' ? 'node' : cleaned;
}

/** What the coordinator is told about this host when it joins. */
export async function hostFacts(dataDir: string) {
  const { capacity } = await measureHost(dataDir);
  return { hostname: hostname(), arch: ARCH_NAMES[arch()] ?? arch(), capacity };
}

/** The host's capacity and the free disk under the data dir, from one look at its filesystem. */
export async function measureHost(
  dataDir: string,
): Promise<{ capacity: NodeCapacity; diskFreeMib: number }> {
  const disk = await statfs(dataDir).catch(() => undefined);
  return {
    capacity: {
      vcpus: availableParallelism(),
      memMib: Math.floor(totalmem() / 1024 / 1024),
      // The size of the data directory's filesystem: stable, unlike free space, which the
      // heartbeat reports as usage (a capacity that moved with every write would re-run placement).
      diskGib: disk === undefined ? 0 : Math.floor((disk.blocks * disk.bsize) / 1024 ** 3),
    },
    diskFreeMib: disk === undefined ? 0 : Math.floor((disk.bavail * disk.bsize) / 1024 ** 2),
  };
}

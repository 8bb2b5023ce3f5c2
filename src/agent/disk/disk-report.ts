import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Artifacts, DiskReport, Space, TenantDisk } from '../../contract/node-report.ts';
import { toKib } from '../../contract/node-report.ts';
import { listCacheEntries, type CacheEntryKind } from '../../drivers/dev-image/cache-entries.ts';
import { filesystemOf, usageOf, walkFiles, type SeenInodes } from '../../drivers/fs/disk-usage.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { AgentLayout } from '../runtime/layout.ts';
import { instanceDir, snapshotsDir } from '../runtime/layout.ts';
import { MVM_PREFIX } from '../runtime/vm-key.ts';

/** What one instance's dir holds, in bytes. */
export interface InstanceDisk {
  data: number;
  snapshots: number;
  snapshotCount: number;
  other: number;
  otherFiles: number;
}

export interface NodeDisk {
  report: DiskReport;
  /** By instance key. */
  instances: Map<string, InstanceDisk>;
}

const DATA_DRIVE = join('drives', 'data.ext4');

/** Splits an instance dir into its data drive, its snapshots and the rest. */
export async function instanceDisk(dir: string, seen: SeenInodes): Promise<InstanceDisk> {
  const disk: InstanceDisk = { data: 0, snapshots: 0, snapshotCount: 0, other: 0, otherFiles: 0 };
  await walkFiles(dir, (file, bytes, ino) => {
    if (seen.has(ino)) return;
    seen.add(ino);
    const rel = relative(dir, file);
    if (rel === DATA_DRIVE) disk.data += bytes;
    else if (rel.startsWith(`snapshots${sep}`)) disk.snapshots += bytes;
    else {
      disk.other += bytes;
      disk.otherFiles += 1;
    }
  });
  disk.snapshotCount = (await readdir(snapshotsDir(dir)).catch(() => [] as string[])).length;
  return disk;
}

const space = (count: number, bytes: number): Space => ({ count, kib: toKib(bytes) });

function addTenant(tenants: Map<string, TenantDisk>, record: VmRecord, disk: InstanceDisk): void {
  const t = tenants.get(record.tenantId) ?? {
    tenant: record.tenantId,
    instances: 0,
    dataDisks: space(0, 0),
    snapshots: space(0, 0),
    other: space(0, 0),
    revisions: [],
  };
  // Sums in bytes would need a second map; KiB rounded per instance is what the report shows.
  t.instances += 1;
  t.dataDisks = {
    count: t.dataDisks.count + (disk.data > 0 ? 1 : 0),
    kib: t.dataDisks.kib + toKib(disk.data),
  };
  t.snapshots = {
    count: t.snapshots.count + disk.snapshotCount,
    kib: t.snapshots.kib + toKib(disk.snapshots),
  };
  t.other = { count: t.other.count + disk.otherFiles, kib: t.other.kib + toKib(disk.other) };
  if (!t.revisions.includes(record.spec.revision) && t.revisions.length < 64) {
    t.revisions.push(record.spec.revision);
  }
  tenants.set(record.tenantId, t);
}

const ARTIFACT_FIELD: Readonly<Record<CacheEntryKind, keyof Artifacts>> = {
  image: 'images',
  'init-drive': 'initDrives',
  kernel: 'kernels',
  'guest-agent': 'guestAgents',
  other: 'other',
};

async function artifacts(cacheDir: string | undefined, seen: SeenInodes): Promise<Artifacts> {
  const sums: Artifacts = {
    images: space(0, 0),
    initDrives: space(0, 0),
    kernels: space(0, 0),
    guestAgents: space(0, 0),
    other: space(0, 0),
  };
  if (cacheDir === undefined) return sums;
  for (const entry of await listCacheEntries(cacheDir, seen)) {
    const field = ARTIFACT_FIELD[entry.kind];
    sums[field] = { count: sums[field].count + 1, kib: sums[field].kib + toKib(entry.bytes) };
  }
  return sums;
}

async function orphanDirs(layout: AgentLayout, owned: ReadonlySet<string>, seen: SeenInodes) {
  const names = await readdir(layout.vmsDir).catch(() => [] as string[]);
  const orphans = names.filter((name) => name.startsWith(MVM_PREFIX) && !owned.has(name));
  let bytes = 0;
  for (const name of orphans) bytes += (await usageOf(join(layout.vmsDir, name), seen)).bytes;
  return space(orphans.length, bytes);
}

async function filesystem(path: string) {
  const fs = await filesystemOf(path);
  return { path, totalKib: toKib(fs.totalBytes), freeKib: toKib(fs.freeBytes) };
}

/**
 * The node's disk as `mvm node disk` shows it: the data dir's and the cache's filesystems,
 * each tenant's instance dirs (data drives, snapshots, the rest), the image cache, and
 * instance dirs no record owns. Read with stat only; sizes are allocated blocks.
 */
export async function collectNodeDisk(
  layout: AgentLayout,
  records: readonly VmRecord[],
): Promise<NodeDisk> {
  const seen: SeenInodes = new Set();
  const tenants = new Map<string, TenantDisk>();
  const instances = new Map<string, InstanceDisk>();
  for (const record of records) {
    const disk = await instanceDisk(instanceDir(layout, record.key), seen);
    instances.set(record.key, disk);
    addTenant(tenants, record, disk);
  }
  const owned = new Set(records.map((r) => r.key));
  const report: DiskReport = {
    dataDir: await filesystem(layout.dataDir),
    cacheDir: await filesystem(layout.cacheDir ?? layout.dataDir),
    tenants: [...tenants.values()].sort((a, b) => a.tenant.localeCompare(b.tenant)).slice(0, 4096),
    artifacts: await artifacts(layout.cacheDir, seen),
    orphans: await orphanDirs(layout, owned, seen),
  };
  return { report, instances };
}

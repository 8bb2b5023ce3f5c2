import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { GcItem } from '../../contract/agent-api.ts';
import { decideArtifacts } from '../../core/artifact-retention.ts';
import { artifactsOf } from '../../core/revision.ts';
import { listCacheEntries } from '../../drivers/dev-image/cache-entries.ts';
import { usageOf } from '../../drivers/fs/disk-usage.ts';
import {
  findOrphans,
  removeOrphanCgroup,
  removeOrphanDir,
  stopOrphan,
  vmmProcesses,
  type VmmProcess,
} from '../orphans.ts';
import type { RuntimeDeps } from '../runtime/deps.ts';
import { instanceDir, snapshotsDir } from '../runtime/layout.ts';
import type { VmRecord } from '../state/vm-repo.ts';

/**
 * One piece of garbage: what it is, the instance lock it is removed under (so no lifecycle
 * step of that instance runs meanwhile), and its removal, which checks again under the lock
 * and answers false when it is no longer garbage (the instance came back meanwhile).
 */
export interface Garbage {
  item: GcItem;
  lock?: string;
  remove(): Promise<boolean>;
}

export interface GarbageFound {
  garbage: Garbage[];
  kept: Array<{ kind: string; name: string }>;
  notes: string[];
}

const size = async (path: string): Promise<number> => (await usageOf(path)).bytes;

/** The record's VMM is this process: the only VMM the instance may have. */
const ownsProcess = (record: VmRecord | undefined, p: VmmProcess): boolean =>
  record?.handle?.pid === p.pid;

/**
 * Orphan VMMs, cgroups and instance dirs, as the start-time reaper finds them (orphans.ts).
 * A VMM of an instance that has a record counts only if, under the instance's lock, it is
 * still not the record's: a VMM being started or restored is recorded before the lock goes.
 */
async function orphans(deps: RuntimeDeps, records: readonly VmRecord[]): Promise<Garbage[]> {
  const owned = new Set(records.map((r) => r.key));
  const live = new Set(records.flatMap((r) => (r.handle ? [r.handle.pid] : [])));
  const plan = await findOrphans(deps, owned, live);
  const still = async (key: string) => deps.vms.get(key);
  const processes = plan.processes.map((p): Garbage => ({
    item: {
      kind: 'process',
      name: String(p.pid),
      reason: `VMM of ${p.key ?? '?'} that no record runs`,
    },
    ...(p.key !== undefined ? { lock: p.key } : {}),
    async remove() {
      if (p.key !== undefined && ownsProcess(await still(p.key), p)) return false;
      await stopOrphan(deps, p);
      return true;
    },
  }));
  // A cgroup still holding processes other than our orphan VMMs is another agent's: not ours.
  const orphanPids = new Set(plan.processes.map((p) => p.pid));
  const free = plan.cgroups.filter((c) => c.pids.every((pid) => orphanPids.has(pid)));
  const cgroups = free.map(({ key }): Garbage => ({
    item: { kind: 'cgroup', name: key, reason: 'cgroup of no instance' },
    lock: key,
    async remove() {
      if (await still(key)) return false;
      return removeOrphanCgroup(deps, key);
    },
  }));
  const dirs: Garbage[] = [];
  for (const name of plan.dirs) {
    const path = join(deps.layout.vmsDir, name);
    dirs.push({
      item: {
        kind: 'instance-dir',
        name,
        path,
        bytes: await size(path),
        reason: 'no record owns it',
      },
      lock: name,
      async remove() {
        if (await still(name)) return false;
        await removeOrphanDir(deps, name);
        return true;
      },
    });
  }
  return [...processes, ...cgroups, ...dirs];
}

/** Snapshot dirs other than the one a sleeping instance will wake from. */
async function snapshots(deps: RuntimeDeps, records: readonly VmRecord[]): Promise<Garbage[]> {
  const found: Garbage[] = [];
  for (const record of records) {
    const dir = snapshotsDir(instanceDir(deps.layout, record.key));
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const path = join(dir, name);
      if (path === record.snapshot?.dir) continue;
      found.push({
        item: {
          kind: 'snapshot',
          name: `${record.key}/${name}`,
          path,
          bytes: await size(path),
          reason: record.snapshot
            ? `older than the snapshot the instance wakes from (${record.snapshot.dir})`
            : `the instance is ${record.status} and wakes from no snapshot`,
        },
        lock: record.key,
        async remove() {
          const now = await deps.vms.get(record.key);
          if (now?.snapshot?.dir === path) return false;
          await rm(path, { recursive: true, force: true });
          return true;
        },
      });
    }
  }
  return found;
}

/** mvm-named links the node's tenant network does not own; one sync removes them all. */
async function taps(deps: RuntimeDeps, notes: string[]): Promise<Garbage[]> {
  const network = deps.network;
  if (!network) {
    notes.push('tenant networking is off on this agent: taps were not checked');
    return [];
  }
  let synced: Promise<unknown> | undefined;
  return (await network.strays()).map((name) => ({
    item: { kind: 'tap', name, reason: 'an mvm link no instance or tenant here owns' },
    async remove() {
      // The network converges from the records; applying it deletes every stray link at once.
      synced ??= network.sync();
      await synced;
      return !(await network.strays()).includes(name);
    },
  }));
}

/** Every file path inside `cacheDir` a live VMM was started with. */
function pathsIn(processes: readonly VmmProcess[], cacheDir: string): string[] {
  const pattern = new RegExp(`${cacheDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/[^,\\s]+`, 'g');
  return processes.flatMap((p) => p.argv.flatMap((arg) => arg.match(pattern) ?? []));
}

/** Image cache entries nothing needs (core/artifact-retention.ts decides). */
async function artifacts(
  deps: RuntimeDeps,
  kept: GarbageFound['kept'],
  notes: string[],
): Promise<Garbage[]> {
  const cacheDir = deps.layout.cacheDir;
  if (cacheDir === undefined) {
    notes.push('no image cache configured: artifacts were not checked');
    return [];
  }
  const current = deps.images.current?.()?.revision;
  if (current === undefined)
    notes.push('the agent has booted nothing yet: the newest image stands in for its current one');
  const processes = await vmmProcesses(deps.layout.vmsDir);
  const decision = decideArtifacts(
    await listCacheEntries(cacheDir),
    { ...(current !== undefined ? { current } : {}), paths: pathsIn(processes, cacheDir) },
    deps.clock.now().getTime(),
  );
  kept.push(...decision.keep.map((e) => ({ kind: e.kind, name: e.name })));
  return decision.remove.map((e) => ({
    item: {
      kind: 'artifact',
      name: `${e.kind} ${e.name}`,
      path: e.path,
      bytes: e.bytes,
      reason:
        e.kind === 'other' ? `unused ${e.role ?? 'file'}` : `no image in use needs this ${e.kind}`,
    },
    async remove() {
      await rm(e.path, { recursive: true, force: true });
      return true;
    },
  }));
}

/**
 * Fetched revisions no instance record here names (any status: a stopped one may start
 * again), and the artifacts only they name; partial transfers go too.
 */
async function revisions(deps: RuntimeDeps, records: readonly VmRecord[]): Promise<Garbage[]> {
  const cache = deps.revisions;
  if (!cache) return [];
  const manifests = await cache.cachedManifests();
  const used = new Set(records.map((r) => r.spec.revision));
  const needed = new Set(
    [...manifests]
      .filter(([id]) => used.has(id))
      .flatMap(([, m]) => artifactsOf(m).map((a) => a.sha256)),
  );
  const found: Garbage[] = [];
  for (const id of manifests.keys()) {
    if (used.has(id)) continue;
    const path = cache.manifestPath(id);
    found.push({
      item: { kind: 'revision', name: id, path, reason: 'no instance here runs this revision' },
      async remove() {
        await rm(path, { force: true });
        return true;
      },
    });
  }
  for (const artifact of await cache.store.list()) {
    if (needed.has(artifact.sha256)) continue;
    const path = cache.store.path(artifact.sha256);
    found.push({
      item: {
        kind: 'artifact',
        name: `revision ${artifact.sha256}`,
        path,
        bytes: artifact.bytes,
        reason: 'no revision an instance here runs names it',
      },
      async remove() {
        await rm(path, { force: true });
        return true;
      },
    });
  }
  return found;
}

/**
 * Pool bases (clones/base-store.ts) of pools no instance here belongs to any more: the pool
 * was destroyed or scaled away from this node. A new instance of it here makes a new base.
 */
async function bases(deps: RuntimeDeps, records: readonly VmRecord[]): Promise<Garbage[]> {
  const store = deps.clones?.store;
  if (!store) return [];
  const scopeOf = (r: Pick<VmRecord, 'tenantId' | 'poolId'>) => `${r.tenantId}/${r.poolId}`;
  const served = new Set(records.map(scopeOf));
  const found: Garbage[] = [];
  for (const base of await store.list()) {
    const pool = scopeOf(base.scope);
    if (served.has(pool)) continue;
    found.push({
      item: {
        kind: 'base',
        name: base.key,
        path: base.path,
        bytes: await size(base.path),
        reason: `pool base of ${pool}, which has no instance here`,
      },
      async remove() {
        // An instance of the pool placed here meanwhile may clone from it: kept.
        if ((await deps.vms.list()).some((r) => scopeOf(r) === pool)) return false;
        await store.invalidate(base.key, `collected: ${pool} has no instance here`);
        return true;
      },
    });
  }
  return found;
}

/** Everything `mvm node gc` collects on this node, found without changing anything. */
export async function findGarbage(
  deps: RuntimeDeps,
  records: readonly VmRecord[],
): Promise<GarbageFound> {
  const kept: GarbageFound['kept'] = [];
  const notes: string[] = [];
  if (!deps.cgroups) notes.push('no cgroup v2 here: cgroups were not checked');
  const garbage = [
    ...(await orphans(deps, records)),
    ...(await snapshots(deps, records)),
    ...(await taps(deps, notes)),
    ...(await artifacts(deps, kept, notes)),
    ...(await revisions(deps, records)),
    ...(await bases(deps, records)),
  ];
  return { garbage, kept, notes };
}

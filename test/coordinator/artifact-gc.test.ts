import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { coordinatorImages } from '../../src/coordinator/builds/image-builders.ts';
import { collectArtifacts } from '../../src/coordinator/services/artifact-gc.ts';
import { revisionIdOf } from '../../src/contract/revisions.ts';
import type { RevisionManifest } from '../../src/core/revision.ts';
import { ContentStore } from '../../src/drivers/artifacts/content-store.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { NodeProcessRunner } from '../../src/drivers/process/node-process-runner.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fleetOver, START } from './node-health-harness.ts';

/**
 * The coordinator collects artifacts that only revisions of destroyed pools named, and uploads
 * no build used (SQLite and Postgres, the coordinator's real stores on disk): shared ones stay,
 * young ones stay, none go while a build runs.
 */
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const HOUR = 60 * 60 * 1000;

/** Stores `text` as an artifact last written `ageMs` before START. */
async function stored(artifacts: ContentStore, text: string, ageMs = 2 * HOUR) {
  await mkdir(artifacts.root, { recursive: true });
  const file = join(artifacts.root, `in-${text}`);
  await writeFile(file, text);
  const ref = await artifacts.putFile(file);
  await rm(file);
  const when = new Date(START - ageMs);
  await utimes(artifacts.path(ref.sha256), when, when);
  return { sha256: ref.sha256, bytes: ref.bytes };
}

async function record(
  store: Store,
  pool: string,
  parts: { kernel: { sha256: string; bytes: number }; rootfs: { sha256: string; bytes: number } },
): Promise<void> {
  const manifest = {
    schema: 'mvm.revision/v1',
    kernel: parts.kernel,
    initrd: null,
    rootfs: parts.rootfs,
    rootfsFormat: 'ext4',
    cmdline: pool,
    initDrive: 'node',
    workload: null,
    runSpec: null,
  } as RevisionManifest;
  await store.revisions.insert({
    tenantId: 'acme',
    poolId: pool,
    id: revisionIdOf(manifest),
    manifest,
    source: { kind: 'dev', devImage: 'd'.repeat(64) },
    log: null,
    builtBy: 'admin',
    buildMs: 1,
    createdAt: new Date(START).toISOString(),
  });
}

/** The coordinator's artifact and upload stores in `root`, as `mvm coordinator serve` makes them. */
function imagesIn(root: string) {
  return coordinatorImages({
    dataDir: root,
    runner: new NodeProcessRunner(),
    clock: systemClock,
    dev: { cacheDir: join(root, 'dev-cache') },
  });
}

function runningBuild(id: string) {
  return {
    id,
    tenantId: 'acme',
    poolId: 'web',
    status: 'running' as const,
    source: { kind: 'dev' as const },
    revisionId: null,
    error: null,
    log: null,
    startedBy: 'admin',
    startedAt: new Date(START).toISOString(),
    finishedAt: null,
  };
}

await describeEachDatabase('coordinator artifact collection', ({ store }) => {
  it("removes what only a destroyed pool's revisions named, keeping shared and young artifacts", async () => {
    const fleet = await fleetOver(store());
    const root = await mkdtemp(join(tmpdir(), 'mvm-agc-'));
    dirs.push(root);
    const stores = imagesIn(root);
    const artifacts = new ContentStore(join(root, 'artifacts'));
    await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
    for (const id of ['kept', 'gone']) {
      await fleet.ok('POST', '/tenants/acme/pools', { id, vcpus: 1, memMib: 256 });
    }
    const kernel = await stored(artifacts, 'shared kernel');
    const keptRootfs = await stored(artifacts, 'kept rootfs');
    const goneRootfs = await stored(artifacts, 'gone rootfs');
    const young = await stored(artifacts, 'a build just stored this', 60_000);
    await record(store(), 'kept', { kernel, rootfs: keptRootfs });
    await record(store(), 'gone', { kernel, rootfs: goneRootfs });
    const deps = { store: store(), clock: fleet.clock };

    // Both pools stand: nothing goes (the young one is named by nobody, but young).
    expect((await collectArtifacts(deps, stores)).removed).toEqual([]);

    await fleet.ok('DELETE', '/tenants/acme/pools/gone');
    const result = await collectArtifacts(deps, stores);
    expect(result.removed.map((a) => a.sha256)).toEqual([goneRootfs.sha256]);
    const left = (await artifacts.list()).map((a) => a.sha256).sort();
    expect(left).toEqual([kernel.sha256, keptRootfs.sha256, young.sha256].sort());

    // Once old, the artifact nobody names goes too; a running build holds everything.
    fleet.clock.advance(2 * HOUR);
    await store().builds.insert({
      id: 'b1',
      tenantId: 'acme',
      poolId: 'kept',
      status: 'running',
      source: { kind: 'dev' },
      revisionId: null,
      error: null,
      log: null,
      startedBy: 'admin',
      startedAt: new Date(START).toISOString(),
      finishedAt: null,
    });
    expect(await collectArtifacts(deps, stores)).toEqual({
      removed: [],
      removedUploads: [],
      skipped: 'a build is running',
    });
    await store().builds.finish('b1', {
      status: 'failed',
      revisionId: null,
      error: 'test',
      log: null,
      finishedAt: new Date(START).toISOString(),
    });
    expect((await collectArtifacts(deps, stores)).removed.map((a) => a.sha256)).toEqual([
      young.sha256,
    ]);
  });

  it('removes uploads no build used once past the grace, of every tenant, never during a build', async () => {
    const fleet = await fleetOver(store());
    const root = await mkdtemp(join(tmpdir(), 'mvm-ugc-'));
    dirs.push(root);
    const stores = imagesIn(root);
    const uploadsOf = (tenant: string) => new ContentStore(join(root, 'uploads', tenant));
    await fleet.ok('POST', '/tenants', { id: 'acme', netId: 42 });
    await fleet.ok('POST', '/tenants/acme/pools', { id: 'web', vcpus: 1, memMib: 256 });
    const deps = { store: store(), clock: fleet.clock };
    // No upload ever: the uploads directory does not exist, and nothing fails.
    expect(await collectArtifacts(deps, stores)).toEqual({ removed: [], removedUploads: [] });

    const stale = await stored(uploadsOf('acme'), 'a source never built');
    const fresh = await stored(uploadsOf('acme'), 'a source about to be built', 60_000);
    // A tenant destroyed since: its directory is still found.
    const orphan = await stored(uploadsOf('gone'), "a destroyed tenant's source");
    const artifact = await stored(new ContentStore(join(root, 'artifacts')), 'named by nobody');

    await store().builds.insert(runningBuild('b1'));
    expect(await collectArtifacts(deps, stores)).toEqual({
      removed: [],
      removedUploads: [],
      skipped: 'a build is running',
    });
    expect(await uploadsOf('acme').stat(stale.sha256)).toBeDefined();
    await store().builds.finish('b1', {
      status: 'failed',
      revisionId: null,
      error: 'stopped by the test',
      log: null,
      finishedAt: new Date(START).toISOString(),
    });

    const result = await collectArtifacts(deps, stores);
    expect(result.removed.map((a) => a.sha256)).toEqual([artifact.sha256]);
    expect(result.removedUploads.map((u) => [u.tenantId, u.sha256]).sort()).toEqual(
      [
        ['acme', stale.sha256],
        ['gone', orphan.sha256],
      ].sort(),
    );
    expect((await uploadsOf('acme').list()).map((u) => u.sha256)).toEqual([fresh.sha256]);
    expect(await uploadsOf('gone').list()).toEqual([]);

    // Past its grace, the young one goes too.
    fleet.clock.advance(2 * HOUR);
    const later = await collectArtifacts(deps, stores);
    expect(later.removedUploads.map((u) => u.sha256)).toEqual([fresh.sha256]);
  });
});

import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { collectArtifacts } from '../../src/coordinator/services/artifact-gc.ts';
import { revisionIdOf } from '../../src/contract/revisions.ts';
import type { RevisionManifest } from '../../src/core/revision.ts';
import { ContentStore } from '../../src/drivers/artifacts/content-store.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { fleetOver, START } from './node-health-harness.ts';

/**
 * The coordinator collects artifacts that only revisions of destroyed pools named (SQLite and
 * Postgres, a real content store on disk): shared ones stay, young ones stay, none go while a
 * build runs.
 */
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const HOUR = 60 * 60 * 1000;

/** Stores `text` as an artifact last written `ageMs` before START. */
async function stored(artifacts: ContentStore, text: string, ageMs = 2 * HOUR) {
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

await describeEachDatabase('coordinator artifact collection', ({ store }) => {
  it("removes what only a destroyed pool's revisions named, keeping shared and young artifacts", async () => {
    const fleet = await fleetOver(store());
    const root = await mkdtemp(join(tmpdir(), 'mvm-agc-'));
    dirs.push(root);
    const artifacts = new ContentStore(root);
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
    expect((await collectArtifacts(deps, artifacts)).removed).toEqual([]);

    await fleet.ok('DELETE', '/tenants/acme/pools/gone');
    const result = await collectArtifacts(deps, artifacts);
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
    expect(await collectArtifacts(deps, artifacts)).toEqual({
      removed: [],
      skipped: 'a build is running',
    });
    await store().builds.finish('b1', {
      status: 'failed',
      revisionId: null,
      error: 'test',
      log: null,
      finishedAt: new Date(START).toISOString(),
    });
    expect((await collectArtifacts(deps, artifacts)).removed.map((a) => a.sha256)).toEqual([
      young.sha256,
    ]);
  });
});

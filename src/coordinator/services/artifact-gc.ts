import {
  unreferencedArtifacts,
  unusedUploads,
  type StoredArtifact,
} from '../../core/revision-retention.ts';
import type { ArtifactStore } from '../../ports/artifact-store.ts';
import type { Logger } from '../../ports/logger.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Store } from '../../ports/store.ts';
import type { ImageDeps } from '../builds/image-deps.ts';

interface GcDeps {
  store: Pick<Store, 'builds' | 'revisions'>;
  clock: Clock;
  logger?: Logger;
}

/** The stores collected: revision artifacts, and (when given) each tenant's uploads. */
export type GcStores = Pick<ImageDeps, 'artifacts'> &
  Partial<Pick<ImageDeps, 'uploads' | 'uploadTenants'>>;

export interface ArtifactGcResult {
  removed: StoredArtifact[];
  /** Uploads no build used, removed, with their tenant. */
  removedUploads: Array<StoredArtifact & { tenantId: string }>;
  /** Why nothing was looked at (a build is running); absent when it collected. */
  skipped?: string;
}

/**
 * Removes the coordinator's artifacts that no recorded revision names any more (those only
 * revisions of destroyed pools named) and the uploads no build used (core/revision-retention.ts
 * decides both). Not while a build runs: it may hold artifacts its revision does not name yet,
 * and the upload it builds from (the grace age covers the rest).
 */
export async function collectArtifacts(deps: GcDeps, stores: GcStores): Promise<ArtifactGcResult> {
  if ((await deps.store.builds.running()).length > 0) {
    return { removed: [], removedUploads: [], skipped: 'a build is running' };
  }
  const now = deps.clock.now().getTime();
  const [stored, revisions] = await Promise.all([
    stores.artifacts.list(),
    deps.store.revisions.all(),
  ]);
  const garbage = unreferencedArtifacts(stored, revisions, now);
  await removeAll(stores.artifacts, garbage);
  const removedUploads = await collectUploads(stores, now);
  const bytes = [...garbage, ...removedUploads].reduce((sum, a) => sum + a.bytes, 0);
  if (garbage.length + removedUploads.length > 0) {
    deps.logger?.info(
      { artifacts: garbage.length, uploads: removedUploads.length, bytes },
      'removed artifacts no revision names and uploads no build used',
    );
  }
  return { removed: garbage, removedUploads };
}

async function collectUploads(
  stores: GcStores,
  now: number,
): Promise<ArtifactGcResult['removedUploads']> {
  const { uploads, uploadTenants } = stores;
  if (!uploads || !uploadTenants) return [];
  const removed: ArtifactGcResult['removedUploads'] = [];
  for (const tenantId of await uploadTenants()) {
    const store = uploads(tenantId);
    const unused = unusedUploads(await store.list(), now);
    await removeAll(store, unused);
    removed.push(...unused.map((u) => ({ ...u, tenantId })));
  }
  return removed;
}

async function removeAll(store: ArtifactStore, items: readonly StoredArtifact[]): Promise<void> {
  for (const item of items) await store.remove(item.sha256);
}

/** Collects every `everyMs` (default 10 minutes), and once at once; stop() ends it. */
export function collectArtifactsEvery(
  deps: GcDeps,
  stores: GcStores,
  everyMs = 10 * 60 * 1000,
): { stop(): Promise<void> } {
  let running: Promise<unknown> | undefined;
  const run = () => {
    if (running) return;
    running = collectArtifacts(deps, stores)
      .catch((err: unknown) => deps.logger?.warn({ err }, 'artifact collection failed; retrying'))
      .finally(() => {
        running = undefined;
      });
  };
  run();
  const timer = setInterval(run, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

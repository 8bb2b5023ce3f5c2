import { unreferencedArtifacts, type StoredArtifact } from '../../core/revision-retention.ts';
import type { ArtifactStore } from '../../ports/artifact-store.ts';
import type { Logger } from '../../ports/logger.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Store } from '../../ports/store.ts';

interface GcDeps {
  store: Pick<Store, 'builds' | 'revisions'>;
  clock: Clock;
  logger?: Logger;
}

export interface ArtifactGcResult {
  removed: StoredArtifact[];
  /** Why nothing was looked at (a build is running); absent when it collected. */
  skipped?: string;
}

/**
 * Removes the coordinator's artifacts that no recorded revision names any more: those only
 * revisions of destroyed pools named (core/revision-retention.ts decides). Not while a build
 * runs: it may hold artifacts its revision does not name yet (the grace age covers the rest).
 */
export async function collectArtifacts(
  deps: GcDeps,
  artifacts: ArtifactStore,
): Promise<ArtifactGcResult> {
  if ((await deps.store.builds.running()).length > 0) {
    return { removed: [], skipped: 'a build is running' };
  }
  const [stored, revisions] = await Promise.all([artifacts.list(), deps.store.revisions.all()]);
  const garbage = unreferencedArtifacts(stored, revisions, deps.clock.now().getTime());
  for (const a of garbage) await artifacts.remove(a.sha256);
  if (garbage.length > 0) {
    const bytes = garbage.reduce((sum, a) => sum + a.bytes, 0);
    deps.logger?.info({ artifacts: garbage.length, bytes }, 'removed artifacts no revision names');
  }
  return { removed: garbage };
}

/** Collects every `everyMs` (default 10 minutes), and once at once; stop() ends it. */
export function collectArtifactsEvery(
  deps: GcDeps,
  artifacts: ArtifactStore,
  everyMs = 10 * 60 * 1000,
): { stop(): Promise<void> } {
  let running: Promise<unknown> | undefined;
  const run = () => {
    if (running) return;
    running = collectArtifacts(deps, artifacts)
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

import {
  baseRevision,
  DEFAULT_BASE_GRACE_MS,
  planBaseRetention,
  useOf,
} from '../../core/base-retention.ts';
import { errorMessage } from '../../core/errors.ts';
import type { RuntimeDeps } from '../runtime/deps.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';
import type { VmRecord } from '../state/vm-repo.ts';

export interface BaseCollectorOptions {
  /** How long a base stays after its last instance of its pool revision left; default 10 min. */
  graceMs?: number;
}

const scopeOf = (r: { tenantId: string; poolId: string }) => `${r.tenantId}/${r.poolId}`;

/**
 * Drops pool bases (clones/base-store.ts) on its own: a base no instance of its pool revision
 * on this node has used for the grace period (core/base-retention.ts). `mvm node gc` (kind
 * `base`) still drops one at once. The grace is counted from the first pass that found the base
 * unused, and that time is kept with the base on disk (`BaseStore.setUnusedSince`), so an agent
 * restarted goes on counting where it was.
 */
export class BaseCollector {
  constructor(
    private readonly runtime: InstanceRuntime,
    private readonly deps: RuntimeDeps,
    private readonly options: BaseCollectorOptions = {},
  ) {}

  /** One pass: the keys of the bases removed. */
  async pass(): Promise<string[]> {
    const store = this.deps.clones?.store;
    if (!store) return [];
    const bases = await store.list();
    if (bases.length === 0) return [];
    const { used, unsure } = await this.uses(await this.runtime.list());
    const recorded = new Map<string, number>();
    for (const base of bases) {
      const since = await store.unusedSince(base.key);
      if (since !== undefined) recorded.set(base.key, since);
    }
    const plan = planBaseRetention({
      bases: bases.map((b) => ({
        key: b.key,
        scope: scopeOf(b.scope),
        revision: baseRevision(b.imageDigest),
      })),
      used,
      unsure,
      unusedSince: recorded,
      now: this.deps.clock.now().getTime(),
      graceMs: this.options.graceMs ?? DEFAULT_BASE_GRACE_MS,
    });
    for (const base of bases) {
      const since = plan.unusedSince.get(base.key);
      if (since !== recorded.get(base.key)) await store.setUnusedSince(base.key, since);
    }
    const removed: string[] = [];
    for (const key of plan.collect) {
      const base = bases.find((b) => b.key === key);
      if (!base) continue;
      const scope = scopeOf(base.scope);
      // Checked again just before: an instance of the pool recorded meanwhile keeps it (a clone
      // whose base goes from under it falls back to a cold boot, clone-steps.ts).
      const now = await this.uses(await this.deps.vms.list());
      const revision = baseRevision(base.imageDigest);
      if (now.used.has(useOf(scope, revision)) || now.unsure.has(scope)) continue;
      const graceSecs = Math.round((this.options.graceMs ?? DEFAULT_BASE_GRACE_MS) / 1000);
      await store.invalidate(
        key,
        `collected: no instance of ${scope} at revision ${revision} here for ${graceSecs} s`,
      );
      removed.push(key);
    }
    return removed;
  }

  /** The pool revisions living instances use; pools whose instances' revision did not resolve. */
  private async uses(
    records: readonly VmRecord[],
  ): Promise<{ used: Set<string>; unsure: Set<string> }> {
    const used = new Set<string>();
    const unsure = new Set<string>();
    for (const record of records) {
      if (record.status === 'destroyed') continue;
      const scope = scopeOf(record);
      try {
        // As a boot resolves it: `dev` names the dev image's own revision.
        const image = await this.deps.images.resolve(record.spec.revision);
        used.add(useOf(scope, image.revision));
      } catch (error) {
        this.deps.logger.debug(
          { instance: record.key, err: errorMessage(error) },
          'revision not resolved; its pool keeps its bases',
        );
        unsure.add(scope);
      }
    }
    return { used, unsure };
  }
}

/**
 * Runs the collector every `everyMs` (default 60 s) until stopped; returns the stop. A pass
 * that fails is logged and the next one tries again.
 */
export function collectIdleBases(
  collector: BaseCollector,
  deps: Pick<RuntimeDeps, 'logger'>,
  everyMs = 60_000,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  const check = async (): Promise<void> => {
    await collector.pass().catch((error: unknown) => {
      deps.logger.warn({ error: errorMessage(error) }, 'collecting idle pool bases failed');
    });
  };
  const timer = setInterval(() => {
    running ??= check().finally(() => (running = undefined));
  }, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

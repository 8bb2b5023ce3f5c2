import type { GenerationRepo } from '../../ports/store.ts';

/**
 * The store's document marks as every waiting watcher of this replica reads them: one read of
 * all marks at most every `maxAgeMs`, shared, instead of one read per watcher per poll (1,000
 * watchers polling every 500 ms were 2,000 queries a second). The marks only carry other
 * replicas' changes (local ones wake watchers in-process), so a snapshot up to `maxAgeMs` old
 * delays those by at most that much.
 */
export class SharedMarks {
  private kept: { atMs: number; values: Promise<Map<string, number>> } | undefined;

  constructor(
    private readonly generations: Pick<GenerationRepo, 'allMarks'>,
    private readonly maxAgeMs: number,
    private readonly nowMs: () => number,
  ) {}

  /** The sum of the scopes' marks in a snapshot at most `maxAgeMs` old. */
  async sum(scopes: readonly string[]): Promise<number> {
    return sumOf(await this.snapshot(), scopes);
  }

  /**
   * Every mark, as a snapshot at most `maxAgeMs` old holds them: a computation that read them
   * before the store can sum the scopes of the document it then built (its tenants may differ
   * from those it was asked for), as of that same read.
   */
  async snapshot(): Promise<ReadonlyMap<string, number>> {
    const now = this.nowMs();
    if (this.kept === undefined || now - this.kept.atMs >= this.maxAgeMs) {
      const values = this.generations.allMarks();
      this.kept = { atMs: now, values };
      // A failed read is not kept: the next caller reads again.
      values.catch(() => {
        if (this.kept?.values === values) this.kept = undefined;
      });
    }
    return this.kept.values;
  }
}

/** The sum of the scopes' marks in `values` (a scope never bumped counts 0). */
function sumOf(values: ReadonlyMap<string, number>, scopes: readonly string[]): number {
  return scopes.reduce((total, scope) => total + (values.get(scope) ?? 0), 0);
}

import type { GenerationRepo } from '../../ports/store.ts';

/**
 * The store's document marks as every waiting watcher of this replica reads them: one read of
 * all marks at most every `maxAgeMs`, shared, instead of one read per watcher per poll (1,000
 * watchers polling every 500 ms were 2,000 queries a second). The marks only carry other
 * replicas' changes (local ones wake watchers in-process), so a snapshot up to `maxAgeMs` old
 * delays those by at most that much.
 */
export class SharedMarks {
  private snapshot: { atMs: number; values: Promise<Map<string, number>> } | undefined;

  constructor(
    private readonly generations: Pick<GenerationRepo, 'allMarks'>,
    private readonly maxAgeMs: number,
    private readonly nowMs: () => number,
  ) {}

  /** The sum of the scopes' marks in a snapshot at most `maxAgeMs` old. */
  async sum(scopes: readonly string[]): Promise<number> {
    const now = this.nowMs();
    if (this.snapshot === undefined || now - this.snapshot.atMs >= this.maxAgeMs) {
      const values = this.generations.allMarks();
      this.snapshot = { atMs: now, values };
      // A failed read is not kept: the next caller reads again.
      values.catch(() => {
        if (this.snapshot?.values === values) this.snapshot = undefined;
      });
    }
    const values = await this.snapshot.values;
    return scopes.reduce((total, scope) => total + (values.get(scope) ?? 0), 0);
  }
}

import type { GenerationRepo } from '../../ports/store.ts';

const DEFAULT_MAX_CHANGES = 512;

type Marks = Pick<GenerationRepo, 'allMarks' | 'marksSince'>;

/**
 * Every document mark, kept per replica and read again only where it moved (migration 0042:
 * a bump stamps the mark as an instance write is stamped): a node's document asked the marks
 * of its 500 tenants each time, it now reads those bumped since the previous read. The values
 * are the store's as of this read, as a direct read of them would be: every bump committed
 * after the previous read is stamped at or above its cursor. Marks only grow, so a value read
 * twice (or by two reads at once) keeps the higher. Too many moved: all are read again.
 */
export class KeptMarks {
  private kept: { cursor: number; values: Map<string, number> } | undefined;

  constructor(
    private readonly generations: Marks,
    private readonly maxChanges = DEFAULT_MAX_CHANGES,
  ) {}

  /** These scopes' marks, as the store holds them now (a scope never bumped is absent). */
  async of(scopes: readonly string[]): Promise<Map<string, number>> {
    return picked(await this.read(), scopes);
  }

  /**
   * Every mark, as the store holds them now, read through `generations` (by default the
   * store's own: a computation passes those of its reads on one connection, Store.reads).
   * The map is this object's own, changed by later reads: read it before awaiting again.
   */
  async read(generations: Marks = this.generations): Promise<ReadonlyMap<string, number>> {
    const kept = this.kept;
    if (kept) {
      const changes = await generations.marksSince(kept.cursor, this.maxChanges);
      if (changes) return merged(kept, changes.marks, changes.cursor);
    }
    // Read in full: the cursor first, so every bump it has not seen is read next time.
    const changes = await generations.marksSince(0, Number.MAX_SAFE_INTEGER);
    const values = changes?.marks ?? (await generations.allMarks());
    const cursor = changes?.cursor ?? 0;
    if (this.kept) return merged(this.kept, values, cursor);
    this.kept = { cursor, values };
    return values;
  }
}

/**
 * `marks` read up to `cursor` folded into what is kept: marks only grow, so the higher value
 * stands, and the cursor never goes back (a read that started earlier and ends later knows
 * less).
 */
function merged(
  kept: { cursor: number; values: Map<string, number> },
  marks: ReadonlyMap<string, number>,
  cursor: number,
): Map<string, number> {
  for (const [scope, value] of marks) {
    if (value > (kept.values.get(scope) ?? 0)) kept.values.set(scope, value);
  }
  kept.cursor = Math.max(kept.cursor, cursor);
  return kept.values;
}

/** The scopes' marks in `values`, copied (a scope never bumped is absent). */
export function picked(
  values: ReadonlyMap<string, number>,
  scopes: readonly string[],
): Map<string, number> {
  const out = new Map<string, number>();
  for (const scope of scopes) {
    const value = values.get(scope);
    if (value !== undefined) out.set(scope, value);
  }
  return out;
}

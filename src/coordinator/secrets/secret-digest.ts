import { createHash } from 'node:crypto';
import { canonicalJson } from '../../core/desired-doc.ts';
import type { SealedSecret } from '../../ports/store.ts';

/**
 * What a pool's desired document says of its secrets: a digest of their names, scopes,
 * versions and times, never of their values (a value digest would let anyone holding the
 * document test guesses). null when the pool has none. A change of any secret the pool gets
 * changes it, so the node's document changes and its agent records the new digest.
 */
export function secretsDigest(effective: readonly SealedSecret[]): string | null {
  if (effective.length === 0) return null;
  const lines = effective.map((s) => [s.poolId ?? '', s.name, s.version, s.updatedAt]);
  return createHash('sha256').update(canonicalJson(lines)).digest('hex');
}

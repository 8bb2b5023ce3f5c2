import { describe, expect, it } from 'vitest';
import {
  decideArtifacts,
  STAGING_AGE_MS,
  type ArtifactEntry,
} from '../../src/core/artifact-retention.ts';

const NOW = Date.parse('2026-12-03T12:00:00Z');
const hex = (c: string) => c.repeat(64);
const entry = (
  e: Partial<ArtifactEntry> & Pick<ArtifactEntry, 'kind' | 'name'>,
): ArtifactEntry => ({
  path: `/cache/${e.kind}/${e.name}`,
  bytes: 1,
  mtimeMs: NOW - 10_000,
  ...e,
});

const cache: ArtifactEntry[] = [
  entry({ kind: 'kernel', name: '6.1.0-56' }),
  entry({ kind: 'kernel', name: '6.1.0-57' }),
  entry({ kind: 'init-drive', name: hex('1') }),
  entry({ kind: 'init-drive', name: hex('2') }),
  entry({ kind: 'guest-agent', name: 'a'.repeat(32), mtimeMs: NOW - 50_000 }),
  entry({ kind: 'guest-agent', name: 'b'.repeat(32) }),
  entry({
    kind: 'image',
    name: hex('a'),
    uses: { kernel: '6.1.0-56', initDrive: hex('1') },
    mtimeMs: NOW - 90_000,
  }),
  entry({ kind: 'image', name: hex('b'), uses: { kernel: '6.1.0-57', initDrive: hex('2') } }),
  entry({
    kind: 'image',
    name: hex('c'),
    uses: { kernel: '6.1.0-57', initDrive: hex('2') },
    mtimeMs: NOW - 1,
  }),
  entry({ kind: 'other', name: 'images/by-input/k1', role: 'index', pointsTo: hex('b') }),
  entry({ kind: 'other', name: 'images/by-input/k2', role: 'index', pointsTo: hex('c') }),
  entry({ kind: 'other', name: 'images/by-input/k3', role: 'index', pointsTo: hex('d') }),
  entry({
    kind: 'other',
    name: 'images/.tmp-old',
    role: 'staging',
    mtimeMs: NOW - STAGING_AGE_MS - 1,
  }),
  entry({ kind: 'other', name: 'images/.tmp-new', role: 'staging', mtimeMs: NOW - 1_000 }),
  entry({ kind: 'other', name: 'kernels/newest.json', role: 'memo', mtimeMs: 0 }),
];
const names = (list: readonly ArtifactEntry[]) =>
  list.map((e) => `${e.kind} ${e.name.slice(0, 18)}`);

describe('decideArtifacts', () => {
  it('keeps the current image, what builds it and what live VMMs use; removes the rest', () => {
    const livePath = `/cache/image/${hex('a')}/rootfs.ext4`;
    const decision = decideArtifacts(cache, { current: hex('b'), paths: [livePath] }, NOW);
    expect(names(decision.remove)).toEqual([
      'guest-agent aaaaaaaaaaaaaaaaaa',
      `image ${hex('c').slice(0, 18)}`,
      'other images/by-input/k2',
      'other images/by-input/k3',
      'other images/.tmp-old',
    ]);
    // Image a stays for its running VMM, and with it its kernel and init drive.
    expect(names(decision.keep)).toContain('kernel 6.1.0-56');
    expect(names(decision.keep)).toContain(`init-drive ${hex('1').slice(0, 18)}`);
    expect(decision.keep.length + decision.remove.length).toBe(cache.length);
  });

  it('without a current image keeps the newest one, so collecting forces no rebuild', () => {
    const decision = decideArtifacts(cache, { paths: [] }, NOW);
    const images = decision.keep.filter((e) => e.kind === 'image').map((e) => e.name);
    expect(images).toEqual([hex('c')]);
    expect(names(decision.remove)).toContain('kernel 6.1.0-56');
    expect(names(decision.keep)).toContain('kernel 6.1.0-57');
  });

  it('removes nothing from a cache that is all in use', () => {
    expect(decideArtifacts([], { paths: [] }, NOW)).toEqual({ keep: [], remove: [] });
    const only = [cache[1], cache[3], cache[5], cache[7]] as ArtifactEntry[];
    expect(decideArtifacts(only, { current: hex('b'), paths: [] }, NOW).remove).toEqual([]);
  });
});

import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactEntry, ArtifactKind } from '../../core/artifact-retention.ts';
import { usageOf, type SeenInodes } from '../fs/disk-usage.ts';

/**
 * The image cache as its builders lay it out (build-dev-image.ts, kernel.ts, init-drive.ts,
 * guest-agent-binary.ts), listed for disk reports and garbage collection: what each entry is,
 * what it takes on disk and what it refers to. Read-only; only the builders write the cache.
 */
export type CacheEntryKind = ArtifactKind;
/** One entry; `bytes` leaves out inodes already counted for an entry listed before it. */
export type CacheEntry = ArtifactEntry;

const HEX64 = /^[0-9a-f]{64}$/;
const STAGING = /^\.tmp-/;

interface Area {
  kind: Exclude<CacheEntryKind, 'other'>;
  dir: string;
  accepts(name: string): boolean;
}

/** Kernels first: images hard-link their vmlinux from there, and count what they add. */
const AREAS: readonly Area[] = [
  { kind: 'kernel', dir: 'kernels', accepts: (n) => /^\d[\w.+-]*$/.test(n) },
  { kind: 'init-drive', dir: 'init-drives', accepts: (n) => HEX64.test(n) },
  { kind: 'guest-agent', dir: 'guest-agent', accepts: (n) => /^[0-9a-f]{32}$/.test(n) },
  { kind: 'image', dir: 'images', accepts: (n) => HEX64.test(n) },
];

export async function listCacheEntries(
  cacheDir: string,
  seen: SeenInodes = new Set(),
): Promise<CacheEntry[]> {
  const entries: CacheEntry[] = [];
  for (const area of AREAS) {
    for (const name of await names(join(cacheDir, area.dir))) {
      const path = join(cacheDir, area.dir, name);
      if (STAGING.test(name)) entries.push(await other(cacheDir, path, 'staging', seen));
      else if (area.accepts(name) && (await isDir(path)))
        entries.push(await entry(area.kind, name, path, seen));
    }
  }
  for (const name of await names(join(cacheDir, 'images', 'by-input'))) {
    const path = join(cacheDir, 'images', 'by-input', name);
    const target = (await readFile(path, 'utf8').catch(() => '')).trim();
    entries.push({ ...(await other(cacheDir, path, 'index', seen)), pointsTo: target });
  }
  const memo = join(cacheDir, 'kernels', 'newest.json');
  if (await lstat(memo).catch(() => undefined))
    entries.push(await other(cacheDir, memo, 'memo', seen));
  return entries;
}

async function entry(
  kind: Exclude<CacheEntryKind, 'other'>,
  name: string,
  path: string,
  seen: SeenInodes,
): Promise<CacheEntry> {
  const usage = await usageOf(path, seen);
  const base = { kind, name, path, bytes: usage.bytes, mtimeMs: await mtimeOf(path) };
  return kind === 'image' ? { ...base, uses: await imageUses(path) } : base;
}

async function other(
  cacheDir: string,
  path: string,
  role: NonNullable<CacheEntry['role']>,
  seen: SeenInodes,
): Promise<CacheEntry> {
  const usage = await usageOf(path, seen);
  const name = path.slice(cacheDir.length + 1);
  return { kind: 'other', name, path, bytes: usage.bytes, mtimeMs: await mtimeOf(path), role };
}

/** What an image's manifest says it was built from; nothing for an unreadable manifest. */
async function imageUses(dir: string): Promise<CacheEntry['uses']> {
  const text = await readFile(join(dir, 'manifest.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return {};
  try {
    const manifest = JSON.parse(text) as {
      kernel?: { release?: unknown };
      initDrive?: { contentSha256?: unknown };
    };
    const kernel = manifest.kernel?.release;
    const initDrive = manifest.initDrive?.contentSha256;
    return {
      ...(typeof kernel === 'string' ? { kernel } : {}),
      ...(typeof initDrive === 'string' ? { initDrive } : {}),
    };
  } catch {
    return {};
  }
}

async function names(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

async function isDir(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isDirectory() ?? false;
}

async function mtimeOf(path: string): Promise<number> {
  return (await lstat(path).catch(() => undefined))?.mtimeMs ?? 0;
}

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { errorMessage } from '../../core/errors.ts';
import type { BaseInputs } from '../../core/base-key.ts';
import type { Logger } from '../../ports/logger.ts';
import type { SnapshotRef } from '../../ports/vmm.ts';

const BASE_FILE = 'base.json';
const SNAPSHOT_DIR = 'snapshot';
const DATA_FILE = 'data.ext4';
/** Since when the collector found the base unused, kept with it so a restart goes on counting. */
const UNUSED_FILE = 'unused-since.json';

const unusedFileSchema = z.strictObject({ since: z.iso.datetime() });

/**
 * A pool base on disk: `<data-dir>/bases/<key>/{base.json,snapshot/,data.ext4}`, and
 * `unused-since.json` while no instance of its pool revision uses it (base-collector.ts).
 */
export interface PoolBase {
  key: string;
  inputs: BaseInputs;
  /** The VMM's snapshot of the donor, paused after its drain; never resumed itself. */
  snapshot: SnapshotRef;
  /** The donor's data drive at that moment: each clone's first data drive is a copy. */
  dataPath: string;
  donor: string;
  createdAt: string;
}

const baseFileSchema = z.object({
  key: z.string().regex(/^[0-9a-f]{64}$/),
  inputs: z.object({
    scope: z.object({ tenantId: z.string(), poolId: z.string() }),
    imageDigest: z.string(),
    kernel: z.string(),
    vmmVersion: z.string(),
    vcpus: z.number().int(),
    memMib: z.number().int(),
    guestAgentVersion: z.string(),
    layout: z.string(),
    warmUp: z.string().optional(),
  }),
  snapshot: z.object({ kind: z.literal('full'), sizeBytes: z.number().int().nonnegative() }),
  donor: z.string(),
  createdAt: z.string(),
});

/**
 * The node's pool bases. A base is complete or absent: it is built in a staging directory
 * and renamed into place. One that cannot be read whole is removed (a clone then cold-boots).
 */
export class BaseStore {
  constructor(
    private readonly root: string,
    private readonly logger: Logger,
  ) {}

  async find(key: string): Promise<PoolBase | undefined> {
    const dir = join(this.root, key);
    const text = await readFile(join(dir, BASE_FILE), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      const meta = baseFileSchema.parse(JSON.parse(text));
      if (meta.key !== key) throw new Error(`it names key ${meta.key}`);
      const dataPath = join(dir, DATA_FILE);
      await stat(dataPath);
      await stat(join(dir, SNAPSHOT_DIR));
      return {
        ...meta,
        dataPath,
        snapshot: { ...meta.snapshot, dir: join(dir, SNAPSHOT_DIR) },
      };
    } catch (error) {
      await this.invalidate(key, `unreadable: ${errorMessage(error)}`);
      return undefined;
    }
  }

  /**
   * Builds a base: `fill(snapshotDir, dataPath)` writes the snapshot and the data copy into
   * a staging directory, which then becomes the base. Bases of the same pool made from other
   * inputs are stale and removed. Returns false when another build got there first.
   */
  async create(
    key: string,
    inputs: BaseInputs,
    donor: string,
    fill: (snapshotDir: string, dataPath: string) => Promise<SnapshotRef>,
  ): Promise<boolean> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const staging = join(this.root, `.staging-${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(staging, { mode: 0o700 });
      const snapshot = await fill(join(staging, SNAPSHOT_DIR), join(staging, DATA_FILE));
      const meta = {
        key,
        inputs,
        snapshot: { kind: snapshot.kind, sizeBytes: snapshot.sizeBytes },
        donor,
        createdAt: new Date().toISOString(),
      };
      await writeFile(join(staging, BASE_FILE), JSON.stringify(meta, null, 2), { mode: 0o600 });
      const made = await rename(staging, join(this.root, key)).then(
        () => true,
        () => false,
      );
      if (made) await this.pruneStale(key, inputs);
      return made;
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** Every complete base on disk, with the pool it serves (unreadable ones are left out). */
  async list(): Promise<
    Array<{ key: string; path: string; scope: BaseInputs['scope']; imageDigest: string }>
  > {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const found = [];
    for (const name of names.filter((n) => !n.startsWith('.')).sort()) {
      const text = await readFile(join(this.root, name, BASE_FILE), 'utf8').catch(() => '');
      const meta = baseFileSchema.safeParse(parseOr(text));
      if (meta.success)
        found.push({
          key: name,
          path: join(this.root, name),
          scope: meta.data.inputs.scope,
          imageDigest: meta.data.inputs.imageDigest,
        });
    }
    return found;
  }

  /**
   * Since when (epoch ms) the base has been found unused, as last written; undefined when it
   * is in use, or its record is missing or damaged (then its grace starts again, logged).
   */
  async unusedSince(key: string): Promise<number | undefined> {
    const path = join(this.root, key, UNUSED_FILE);
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const parsed = unusedFileSchema.safeParse(parseOr(text));
    if (parsed.success) return Date.parse(parsed.data.since);
    this.logger.warn({ base: key, path }, 'unreadable unused-since record: its grace starts again');
    return undefined;
  }

  /**
   * Records since when the base is unused (atomically, 0600), or with undefined that it is in
   * use again. A base removed meanwhile is left removed.
   */
  async setUnusedSince(key: string, since: number | undefined): Promise<void> {
    const dir = join(this.root, key);
    const path = join(dir, UNUSED_FILE);
    if (since === undefined) {
      await rm(path, { force: true });
      return;
    }
    const staged = join(dir, `.${UNUSED_FILE}.${randomBytes(4).toString('hex')}`);
    const text = JSON.stringify({ since: new Date(since).toISOString() });
    try {
      await writeFile(staged, text, { mode: 0o600, flag: 'wx' });
      await rename(staged, path);
    } catch (error) {
      await rm(staged, { force: true });
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  async invalidate(key: string, reason: string): Promise<void> {
    this.logger.warn({ base: key, reason }, 'pool base removed; clones cold-boot until a new one');
    await rm(join(this.root, key), { recursive: true, force: true });
  }

  /** Removes staging leftovers of builds a crash interrupted: at start none is under way. */
  async removeStaging(): Promise<void> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    await Promise.all(
      names
        .filter((n) => n.startsWith('.staging-'))
        .map((n) => rm(join(this.root, n), { recursive: true, force: true })),
    );
  }

  private async pruneStale(key: string, inputs: BaseInputs): Promise<void> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    for (const name of names) {
      if (name === key || name.startsWith('.')) continue;
      const text = await readFile(join(this.root, name, BASE_FILE), 'utf8').catch(() => '');
      const other = baseFileSchema.safeParse(parseOr(text));
      const scope = other.success ? other.data.inputs.scope : undefined;
      if (scope?.tenantId === inputs.scope.tenantId && scope.poolId === inputs.scope.poolId)
        await this.invalidate(name, `superseded by ${key}`);
    }
  }
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

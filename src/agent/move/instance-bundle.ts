import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError } from '../../core/errors.ts';
import { z } from 'zod';
import {
  localSpecSchema,
  putInstanceBodySchema,
  type LocalSpecInput,
  type PutInstanceBody,
  type StoredSpec,
} from '../../contract/agent-api.ts';
import type { BundleManifest } from '../../contract/move-bundle.ts';
import type { RuntimeDeps } from '../runtime/deps.ts';
import type { InstanceRef, InstanceRuntime } from '../runtime/instance-runtime.ts';
import { instanceDir, snapshotsDir } from '../runtime/layout.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import { exportBundle, type ExportOptions } from '../../drivers/move-bundle/bundle-export.ts';
import { importBundle } from './bundle-import.ts';

const DATA_PART = 'data.ext4';
const SNAPSHOT_PREFIX = 'snapshot.';
/**
 * The instance as the source recorded it: its spec (same id, IP, MAC and tap on the target)
 * and a gateway's versioned config files (the config drive its snapshot was taken with).
 */
const SPEC_PART = 'instance.json';

/** What `instance.json` holds; bundles from before config was carried hold the spec alone. */
const movedInstanceSchema = z.strictObject({
  spec: localSpecSchema,
  config: putInstanceBodySchema.shape.config,
});

const dataDrive = (deps: RuntimeDeps, key: string) =>
  join(instanceDir(deps.layout, key), 'drives', 'data.ext4');

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The files a move carries: every file of the snapshot (flat), then the data disk. */
async function movableFiles(
  deps: RuntimeDeps,
  record: VmRecord,
): Promise<Array<{ name: string; path: string }>> {
  const files: Array<{ name: string; path: string }> = [];
  const snapshot = record.snapshot;
  if (record.status === 'sleeping') {
    if (!snapshot || snapshot.base !== undefined) {
      throw new ConflictError(
        `instance '${record.key}' has no full snapshot to move; wake it and sleep it again`,
      );
    }
    for (const entry of await readdir(snapshot.dir, { withFileTypes: true })) {
      if (!entry.isFile()) {
        throw new ConflictError(`snapshot of '${record.key}' holds '${entry.name}', not a file`);
      }
      files.push({ name: `${SNAPSHOT_PREFIX}${entry.name}`, path: join(snapshot.dir, entry.name) });
    }
  }
  const data = dataDrive(deps, record.key);
  if (await exists(data)) files.push({ name: DATA_PART, path: data });
  if (files.length === 0) throw new ConflictError(`instance '${record.key}' has nothing to move`);
  return files.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * Exports a sleeping (or stopped) instance's snapshot and data disk as a move bundle in
 * `outDir`, holding the instance's lock so no wake or start runs meanwhile. The instance
 * stays as it is: the source keeps its copy until the move is done.
 */
export function exportInstance(
  deps: RuntimeDeps,
  runtime: InstanceRuntime,
  ref: InstanceRef,
  outDir: string,
  options: ExportOptions = {},
): Promise<BundleManifest> {
  return runtime.exclusive(ref, async (key) => {
    const record = await deps.vms.require(key);
    if (record.status !== 'sleeping' && record.status !== 'stopped') {
      throw new ConflictError(
        `instance '${key}' is ${record.status}; only a sleeping or stopped instance moves, sleep it first`,
        { status: record.status },
      );
    }
    await mkdir(outDir, { recursive: true, mode: 0o700 });
    const specFile = join(outDir, SPEC_PART);
    const moved = {
      spec: localSpecOf(record.spec),
      ...(record.config ? { config: record.config } : {}),
    };
    await writeFile(specFile, JSON.stringify(moved), { mode: 0o600 });
    const files = [...(await movableFiles(deps, record)), { name: SPEC_PART, path: specFile }];
    return exportBundle(files, outDir, options);
  });
}

/** The stored spec as a put takes it: the same tap, without what the target counts itself. */
function localSpecOf(spec: StoredSpec): LocalSpecInput {
  const { secretsVersion: _secrets, configVersion: _config, ...local } = spec;
  return local;
}

/**
 * The spec (and a gateway's config files) a moved bundle carries, unpacked and checked against
 * its sha256 like every part: what the target records the instance with. Undefined for a
 * bundle without one. Secrets are never carried: the target's drive is rebuilt from what it
 * is given (the coordinator's secrets at the wake).
 */
export async function movedBody(
  bundleDir: string,
  manifest: BundleManifest,
): Promise<PutInstanceBody | undefined> {
  const part = manifest.parts.find((p) => p.name === SPEC_PART);
  if (!part) return undefined;
  const out = join(bundleDir, 'unpacked', SPEC_PART);
  await importBundle(bundleDir, { ...manifest, parts: [part] }, { [SPEC_PART]: out });
  const raw: unknown = JSON.parse(await readFile(out, 'utf8'));
  const moved = movedInstanceSchema.safeParse(raw);
  if (moved.success) {
    const { spec, config } = moved.data;
    return config ? { spec, config } : { spec };
  }
  return { spec: localSpecSchema.parse(raw) };
}

/**
 * Takes in a moved instance: records it with the spec it had (same id, IP, MAC), unpacks the
 * bundle's data disk and snapshot where this agent keeps them, checked part by part, and marks
 * it sleeping on that snapshot (stopped when the bundle has none), ready to wake. Only for an
 * instance this agent has no state of yet (created, never booted); the bundle must be whole.
 */
export async function importInstance(
  deps: RuntimeDeps,
  runtime: InstanceRuntime,
  ref: InstanceRef,
  body: PutInstanceBody,
  bundleDir: string,
  manifest: BundleManifest,
): Promise<VmRecord> {
  await runtime.put(ref, body);
  return runtime.exclusive(ref, async (key) => {
    const record = await deps.vms.require(key);
    if (record.status !== 'created' || record.snapshot !== null) {
      throw new ConflictError(
        `instance '${key}' is already ${record.status} on this node; a move imports only into a new record`,
        { status: record.status },
      );
    }
    const snapshotDir = join(snapshotsDir(instanceDir(deps.layout, key)), '1');
    const destinations: Record<string, string> = {};
    let snapshotBytes = 0;
    for (const part of manifest.parts) {
      if (part.name === DATA_PART) destinations[part.name] = dataDrive(deps, key);
      else if (part.name === SPEC_PART) {
        destinations[part.name] = join(bundleDir, 'unpacked', SPEC_PART);
      } else if (part.name.startsWith(SNAPSHOT_PREFIX)) {
        destinations[part.name] = join(snapshotDir, part.name.slice(SNAPSHOT_PREFIX.length));
        snapshotBytes += part.rawBytes;
      }
    }
    await importBundle(bundleDir, manifest, destinations);
    const asleep = snapshotBytes > 0;
    return deps.vms.update(
      record,
      {
        status: asleep ? 'sleeping' : 'stopped',
        snapshot: asleep ? { dir: snapshotDir, kind: 'full', sizeBytes: snapshotBytes } : null,
      },
      deps.clock.now(),
    );
  });
}

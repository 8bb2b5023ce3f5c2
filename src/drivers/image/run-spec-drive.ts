/**
 * The run-spec drive: a small read-only ext4 (label `mvm-run`) holding `run.json`, what the
 * guest's workload service runs and the defaults of every exec. One per distinct spec (so
 * per revision), content-addressed and byte-reproducible like the rootfs it goes with, so it
 * can travel as an artifact; the image itself is never changed to carry it.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunSpec } from '../../contract/oci-image.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { makeStagingDir, publishDir } from '../dev-image/cache-dir.ts';
import { sha256File } from '../fs/sha256-file.ts';
import { buildReproducibleExt4 } from './reproducible-ext4.ts';

export interface RunSpecDrive {
  path: string;
  /** sha256 (hex) of the drive's bytes. */
  sha256: string;
  /** sha256 (hex) of run.json: the cache key. */
  specSha256: string;
}

/** The exact bytes of run.json for a spec (key order fixed by the spec's shape). */
export function runSpecBytes(spec: RunSpec): Buffer {
  const ordered = {
    version: spec.version,
    argv: spec.argv,
    env: spec.env,
    cwd: spec.cwd,
    user: spec.user,
    ports: spec.ports,
  };
  return Buffer.from(`${JSON.stringify(ordered)}\n`);
}

/** Builds the drive once per spec: `<cacheDir>/oci/run-specs/<sha256 of run.json>/run.ext4`. */
export async function ensureRunSpecDrive(
  cacheDir: string,
  runner: ProcessRunner,
  spec: RunSpec,
): Promise<RunSpecDrive> {
  const bytes = runSpecBytes(spec);
  const specSha256 = createHash('sha256').update(bytes).digest('hex');
  const parent = join(cacheDir, 'oci', 'run-specs');
  const path = join(parent, specSha256, 'run.ext4');
  if (!(await stat(path).catch(() => undefined))) {
    const staging = await makeStagingDir(parent, specSha256.slice(0, 12));
    try {
      const tree = join(staging, 'tree');
      await mkdir(tree, { mode: 0o755 });
      await writeFile(join(tree, 'run.json'), bytes, { mode: 0o644 });
      await utimes(join(tree, 'run.json'), 1, 1);
      await utimes(tree, 1, 1);
      await buildReproducibleExt4(runner, {
        sourceDir: tree,
        path: join(staging, 'run.ext4'),
        label: 'mvm-run',
        seedHex: specSha256,
      });
      await rm(tree, { recursive: true, force: true });
      await publishDir(staging, join(parent, specSha256));
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  }
  return { path, sha256: await sha256File(path), specSha256 };
}

import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HostError } from '../../core/errors.ts';
import type { BuiltDrive, Drives, PendingDrive } from '../../ports/drives.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';
import { publishIfAbsent, publishReplacing, withTempFile } from './atomic-file.ts';
import { assertConfigVersion, assertDataSize, assertFileNames } from './drive-names.ts';
import {
  buildExt4Image,
  contentImageBytes,
  createSparseFile,
  formatExt4Image,
  mibToBytes,
} from './mkfs-ext4.ts';
import type { DriveLabel } from './mkfs-ext4.ts';
import { withStagedFiles } from './staging-dir.ts';
import type { StagingModes } from './staging-dir.ts';

export interface Ext4DrivesOptions {
  runner: ProcessRunner;
  /** `mkfs.ext4` lives in /usr/sbin, which is not on every user's PATH. */
  mkfsPath?: string;
  logger?: Logger;
}

/**
 * Secrets stay private on the host: the image and everything staged for it are owner-only.
 * In the guest each file is `/run/secrets/<name>`, mode 0400 (root may read it, nobody writes).
 */
const SECRET_MODES: StagingModes = { dir: 0o700, file: 0o400 };
const SECRETS_IMAGE_MODE = 0o600;
/** Config is not secret inside the guest, where unprivileged services must read it. */
const CONFIG_MODES: StagingModes = { dir: 0o755, file: 0o644 };
/** Read-only intent on the host; the drives directory (0700) already keeps others out. */
const CONFIG_IMAGE_MODE = 0o400;
const DATA_IMAGE_MODE = 0o600;

/** Drive images under `<instanceDir>/drives/`, built with `mkfs.ext4` (no mounts). */
export class Ext4Drives implements Drives {
  private readonly runner: ProcessRunner;
  private readonly mkfsPath: string;
  private mkfsVersion: Promise<string> | undefined;
  private readonly log: Logger;

  constructor(options: Ext4DrivesOptions) {
    this.runner = options.runner;
    this.mkfsPath = options.mkfsPath ?? 'mkfs.ext4';
    this.log = options.logger ?? silentLogger;
  }

  async ensureData(instanceDir: string, sizeMib: number): Promise<string> {
    assertDataSize(sizeMib);
    const dir = await this.drivesDir(instanceDir);
    const path = join(dir, 'data.ext4');
    // The data drive is the instance's persistent disk: never rebuild or touch an existing one.
    if (await existingImage(path)) return path;
    const created = await withTempFile(
      path,
      (temp) =>
        buildExt4Image(this.runner, this.mkfsPath, temp, {
          label: 'data',
          sizeBytes: mibToBytes(sizeMib),
          mode: DATA_IMAGE_MODE,
        }),
      (temp) => publishIfAbsent(temp, path),
    );
    if (created) this.log.info({ path, sizeMib }, 'created data drive');
    return path;
  }

  async hasData(instanceDir: string): Promise<boolean> {
    return existingImage(join(instanceDir, 'drives', 'data.ext4'));
  }

  async seedData(instanceDir: string, template: string): Promise<boolean> {
    const path = join(await this.drivesDir(instanceDir), 'data.ext4');
    if (await existingImage(path)) return false;
    const seeded = await withTempFile(
      path,
      async (temp) => {
        // A reflink where the filesystem has them; holes stay holes either way.
        await copyFile(template, temp, constants.COPYFILE_FICLONE);
        await chmod(temp, DATA_IMAGE_MODE);
      },
      (temp) => publishIfAbsent(temp, path),
    );
    if (seeded) this.log.info({ path, template }, 'seeded data drive from a base');
    return seeded;
  }

  async buildSecrets(instanceDir: string, secrets: Record<string, string>): Promise<BuiltDrive> {
    assertFileNames('secret', secrets);
    const dir = await this.drivesDir(instanceDir);
    const path = join(dir, 'secrets.ext4');
    await this.buildContentImage(dir, path, 'secrets', secrets, SECRET_MODES, SECRETS_IMAGE_MODE);
    // Names only: values never reach a log line.
    this.log.info({ path, count: Object.keys(secrets).length }, 'built secrets drive');
    return { path, digest: await this.digest('secrets', secrets, SECRET_MODES) };
  }

  /**
   * The secrets image in place: the file at its final path and size first (a VMM may open it
   * at once), `mkfs.ext4` writing that same inode meanwhile. Whatever was at the path goes
   * first (no VMM holds it: the instance is not running). `written` never rejects unobserved.
   */
  async layoutSecrets(instanceDir: string, secrets: Record<string, string>): Promise<PendingDrive> {
    assertFileNames('secret', secrets);
    const dir = await this.drivesDir(instanceDir);
    const path = join(dir, 'secrets.ext4');
    const spec = {
      label: 'secrets' as const,
      sizeBytes: contentImageBytes(secrets),
      mode: SECRETS_IMAGE_MODE,
      content: { fileCount: Object.keys(secrets).length },
    };
    // The digest first (it depends on the values only): nothing is left running if it fails.
    const digest = await this.digest('secrets', secrets, SECRET_MODES);
    await rm(path, { force: true });
    await createSparseFile(path, spec.sizeBytes, spec.mode);
    const written = withStagedFiles(dir, secrets, SECRET_MODES, (sourceDir) =>
      formatExt4Image(this.runner, this.mkfsPath, path, { ...spec, sourceDir }),
    ).then(() => {
      // Names only: values never reach a log line.
      this.log.info({ path, count: Object.keys(secrets).length }, 'laid out secrets drive');
    });
    written.catch(() => undefined);
    return { path, digest, written };
  }

  async buildConfig(
    instanceDir: string,
    version: string,
    files: Record<string, string>,
  ): Promise<BuiltDrive> {
    assertConfigVersion(version);
    assertFileNames('config file', files);
    const dir = await this.drivesDir(instanceDir);
    const path = join(dir, `config-${version}.ext4`);
    // Rebuilding a version replaces it atomically, so a retry after a crash converges.
    await this.buildContentImage(dir, path, 'config', files, CONFIG_MODES, CONFIG_IMAGE_MODE);
    this.log.info({ path, version, files: Object.keys(files) }, 'built config drive');
    return { path, digest: await this.digest('config', files, CONFIG_MODES) };
  }

  async removeAll(instanceDir: string): Promise<void> {
    await rm(join(instanceDir, 'drives'), { recursive: true, force: true });
  }

  private async buildContentImage(
    dir: string,
    path: string,
    label: DriveLabel,
    files: Record<string, string>,
    modes: StagingModes,
    imageMode: number,
  ): Promise<void> {
    await withStagedFiles(dir, files, modes, (sourceDir) =>
      withTempFile(
        path,
        (temp) =>
          buildExt4Image(this.runner, this.mkfsPath, temp, {
            label,
            sizeBytes: contentImageBytes(files),
            mode: imageMode,
            sourceDir,
            content: { fileCount: Object.keys(files).length },
          }),
        (temp) => publishReplacing(temp, path),
      ),
    );
  }

  /**
   * Names what a content image holds: its files and modes, and the mkfs that laid them out.
   * Equal inputs give the same layout (fixed UUID and hash seed, sorted files); only inode
   * timestamps may differ, which a guest holding the old image in cache never misreads.
   */
  private async digest(
    label: DriveLabel,
    files: Record<string, string>,
    modes: StagingModes,
  ): Promise<string> {
    this.mkfsVersion ??= this.runner
      .run(this.mkfsPath, ['-V'], { check: false })
      .then((r) => `${r.stdout}${r.stderr}`.split('\n')[0] ?? '');
    const hash = createHash('sha256').update(`${label}\0${await this.mkfsVersion}\0`);
    hash.update(`${modes.dir}\0${modes.file}\0`);
    for (const name of Object.keys(files).sort()) hash.update(`${name}\0${files[name] ?? ''}\0`);
    return hash.digest('hex');
  }

  private async drivesDir(instanceDir: string): Promise<string> {
    const dir = join(instanceDir, 'drives');
    // 0700: staged secrets and images of one instance are nobody else's business.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
}

async function existingImage(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    if (info.isFile()) return true;
    throw new HostError(`data drive ${path} exists but is not a regular file; move it aside`, {
      path,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

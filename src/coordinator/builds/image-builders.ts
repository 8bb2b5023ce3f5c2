import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ContentStore } from '../../drivers/artifacts/content-store.ts';
import {
  DevImageBuilder,
  DevImages,
  type DevImageSettings,
} from '../../drivers/image/dev-builder.ts';
import { NixImageBuilder } from '../../drivers/image/nix-builder.ts';
import { buildOciRootfs } from '../../drivers/image/oci-rootfs.ts';
import { OciImageBuilder } from '../../drivers/image/oci-builder.ts';
import type { Clock } from '../../ports/clock.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { ImageDeps } from './image-deps.ts';

export interface CoordinatorImageOptions {
  dataDir: string;
  runner: ProcessRunner;
  clock: Clock;
  /** The dev image's inputs (the agent settings MVM_CACHE_DIR and MVM_DEV_KERNEL_PACKAGE on this host). */
  dev: DevImageSettings;
  /** Extra `nix --option` pairs (tests: no binary cache on a host without network). */
  nixOptions?: ReadonlyArray<readonly [string, string]>;
}

/**
 * The coordinator's artifact store and builders: artifacts under `<data dir>/artifacts`
 * (0700/0600, like the rest of the data dir), each tenant's uploads under `uploads/<tenant>`,
 * builds working under `builds/`. Builds run on the coordinator host (see docs/images.md).
 */
export function coordinatorImages(options: CoordinatorImageOptions): ImageDeps {
  const devImages = new DevImages(options.dev, options.runner);
  return {
    artifacts: new ContentStore(join(options.dataDir, 'artifacts')),
    uploads: (tenantId) => new ContentStore(join(options.dataDir, 'uploads', tenantId)),
    uploadTenants: () => subdirectories(join(options.dataDir, 'uploads')),
    workDir: join(options.dataDir, 'builds'),
    builders: {
      dev: new DevImageBuilder(devImages),
      nix: new NixImageBuilder({
        runner: options.runner,
        devImages,
        ...(options.nixOptions ? { options: options.nixOptions } : {}),
      }),
      oci: new OciImageBuilder({
        buildOciRootfs,
        runner: options.runner,
        clock: options.clock,
        cacheDir: options.dev.cacheDir,
        devImages,
      }),
    },
  };
}

/** The directories in `dir` (none when it does not exist yet). */
async function subdirectories(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

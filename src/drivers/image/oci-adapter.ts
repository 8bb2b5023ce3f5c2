import { UnavailableError } from '../../core/errors.ts';
import type { WorkloadSpec } from '../../core/revision.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Logger } from '../../ports/logger.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';

/**
 * The seam to the OCI → rootfs library (src/drivers/image/oci-rootfs.ts, written beside this
 * on its own branch): its agreed interface, restated so the build runner can be written and
 * tested before it is merged. Wiring it is one line in coordinator/builds/image-builders.ts:
 * pass its `buildOciRootfs` where `ociRootfsNotMerged` stands.
 */
export interface ImageRunConfig {
  entrypoint?: readonly string[] | null;
  cmd?: readonly string[] | null;
  /** `NAME=value` entries (as in the OCI config), or a map. */
  env?: readonly string[] | Readonly<Record<string, string>> | null;
  workingDir?: string | null;
  user?: string | null;
}

export interface OciRootfs {
  /** sha256:… of the image manifest. */
  digest: string;
  rootfsPath: string;
  rootfsSha256: string;
  sizeBytes: number;
  image: ImageRunConfig;
}

export type BuildOciRootfs = (options: {
  /** oci:DIR[:TAG] | oci-archive:FILE | docker-archive:FILE */
  ref: string;
  cacheDir: string;
  runner: ProcessRunner;
  logger: Logger;
  clock: Clock;
  onProgress?: (line: string) => void;
}) => Promise<OciRootfs>;

/** Stands in until the library is merged: says so, and builds nothing. */
export const ociRootfsNotMerged: BuildOciRootfs = () =>
  Promise.reject(
    new UnavailableError(
      'this coordinator cannot import OCI images yet (the OCI → rootfs library is not part of this build)',
    ),
  );

/** The image config as the guest's workload service takes it. */
export function workloadOf(image: ImageRunConfig): WorkloadSpec | null {
  const env = image.env
    ? Array.isArray(image.env)
      ? [...(image.env as readonly string[])]
      : Object.entries(image.env).map(([name, value]) => `${name}=${value}`)
    : undefined;
  const spec: WorkloadSpec = {
    ...(image.entrypoint ? { entrypoint: [...image.entrypoint] } : {}),
    ...(image.cmd ? { cmd: [...image.cmd] } : {}),
    ...(env && env.length > 0 ? { env } : {}),
    ...(image.workingDir ? { workingDir: image.workingDir } : {}),
    ...(image.user ? { user: image.user } : {}),
  };
  return Object.keys(spec).length > 0 ? spec : null;
}

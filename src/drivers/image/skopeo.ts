/**
 * skopeo (Debian's package) for everything that reads an image reference: `inspect --raw`
 * answers which manifest a reference names without copying anything, and `copy` brings the
 * image into a private OCI layout. skopeo checks every blob it copies against its digest.
 */
import { HostError, ValidationError, errorMessage } from '../../core/errors.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';

/** Transports mvm accepts: local ones, and registries where one is reachable. */
const TRANSPORTS = ['oci:', 'oci-archive:', 'docker-archive:', 'docker://'] as const;
const COPY_TIMEOUT_MS = 30 * 60_000;
const INSPECT_TIMEOUT_MS = 120_000;

/** Refuses references skopeo would read from places mvm does not import from. */
export function checkImageRef(ref: string): void {
  if (ref.length > 4096 || /[\0\n]/.test(ref) || !TRANSPORTS.some((t) => ref.startsWith(t))) {
    throw new ValidationError(
      `image reference '${ref.slice(0, 200)}' is not one mvm imports; use oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or docker://NAME[:TAG]`,
    );
  }
}

/** The bytes of the manifest (or index) the reference names, as its source serves them. */
export async function inspectRaw(runner: ProcessRunner, ref: string): Promise<Buffer> {
  const result = await runner
    .run('skopeo', ['inspect', '--raw', ref], { timeoutMs: INSPECT_TIMEOUT_MS })
    .catch((error: unknown) => {
      throw new ValidationError(`cannot read image '${ref}': ${skopeoReason(error)}`);
    });
  return Buffer.from(result.stdout, 'utf8');
}

/**
 * Copies the image into a fresh OCI layout at `dir` under `tag`. `preserveDigests` keeps every
 * blob and the manifest byte for byte (an OCI source); without it skopeo converts the
 * manifest (a Docker archive) and may compress layers.
 */
export async function copyToLayout(
  runner: ProcessRunner,
  ref: string,
  dir: string,
  tag: string,
  preserveDigests: boolean,
): Promise<void> {
  const args = ['copy', '--quiet', ...(preserveDigests ? ['--preserve-digests'] : [])];
  await runner
    .run('skopeo', [...args, ref, `oci:${dir}:${tag}`], { timeoutMs: COPY_TIMEOUT_MS })
    .catch((error: unknown) => {
      const mismatch = /expected (sha256:[0-9a-f]{64}), got (sha256:[0-9a-f]{64})/.exec(
        errorMessage(error),
      );
      if (mismatch) {
        throw new ValidationError(
          `blob ${mismatch[1]} of image '${ref}' does not match its digest (its content hashes to ${mismatch[2]}): the image is corrupt; import refused, nothing cached`,
          [],
          { cause: error },
        );
      }
      throw new HostError(`skopeo could not copy image '${ref}': ${skopeoReason(error)}`, {
        ref,
      });
    });
}

/** skopeo's own explanation (its fatal log line), without the wrapper's command echo. */
function skopeoReason(error: unknown): string {
  const text = errorMessage(error);
  const fatal = /msg="([^"]+)"/.exec(text);
  return fatal?.[1] ?? text.slice(-500);
}

import { ValidationError } from '../../core/errors.ts';
import { isLocalImage, parseImageRef } from '../../core/pool-source.ts';
import type { ImageRef } from '../../core/pool-source.ts';
import { runSpecOf } from '../../core/image-run-config.ts';
import type { Clock } from '../../ports/clock.ts';
import type {
  BuildContext,
  BuildInput,
  BuiltImage,
  ImageBuilder,
} from '../../ports/image-builder.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { DevImages } from './dev-builder.ts';
import { lineLogger } from './dev-builder.ts';
import type { buildOciRootfs } from './oci-rootfs.ts';

export interface OciBuilderOptions {
  buildOciRootfs: typeof buildOciRootfs;
  runner: ProcessRunner;
  clock: Clock;
  cacheDir: string;
  /** The kernel and first stage an OCI image (a rootfs only) boots with. */
  devImages: DevImages;
}

/**
 * The ref the importer reads. A local image arrives packed by the CLI: `oci:DIR[:TAG]` as an
 * OCI archive of the layout (the tag kept), the archives as they were.
 */
export function importRef(ref: ImageRef, upload: string | undefined): string {
  if (!isLocalImage(ref)) return `docker://${ref.path}`;
  if (upload === undefined) {
    throw new ValidationError(
      `image '${ref.transport}:${ref.path}' is on the caller's machine: build it with 'mvm pool build', which packs and uploads it`,
    );
  }
  const transport = ref.transport === 'docker-archive' ? 'docker-archive' : 'oci-archive';
  return `${transport}:${upload}${ref.reference !== undefined ? `:${ref.reference}` : ''}`;
}

/**
 * An OCI image as a revision: its rootfs and run-spec drive (oci-rootfs.ts, cached by the
 * manifest digest), mvm's kernel and first stage.
 */
export class OciImageBuilder implements ImageBuilder {
  constructor(private readonly options: OciBuilderOptions) {}

  async build(input: BuildInput, context: BuildContext): Promise<BuiltImage> {
    if (input.source.kind !== 'oci') throw new ValidationError('not an OCI image source');
    const parsed = parseImageRef(input.source.ref);
    if (!parsed) throw new ValidationError(`'${input.source.ref}' is not an image reference`);
    const ref = importRef(parsed, input.upload);
    await context.log(`importing ${input.source.ref}`);
    const pending: Promise<void>[] = [];
    // The importer stamps its lines with its own clock; the build log has one already.
    const progress = (line: string) => pending.push(context.log(line.replace(/^\[[\d.]+s\] /, '')));
    const imported = await this.options.buildOciRootfs({
      ref,
      cacheDir: this.options.cacheDir,
      runner: this.options.runner,
      logger: lineLogger(() => undefined),
      clock: this.options.clock,
      onProgress: progress,
    });
    await Promise.all(pending);
    await context.log(
      `image ${imported.digest}: rootfs ${imported.sizeBytes} bytes${imported.cached ? ' (cached)' : ''}`,
    );
    const base = await this.options.devImages.load(context);
    return {
      kernel: base.vmlinux,
      initrd: base.initrd,
      rootfs: imported.rootfsPath,
      cmdline: base.cmdlineBase,
      workload: { spec: runSpecOf(imported.image), drive: imported.runSpec.path },
      source: { kind: 'oci', ref: input.source.ref, digest: imported.digest },
    };
  }
}

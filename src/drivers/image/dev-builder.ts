import type { Logger } from '../../ports/logger.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { BuildContext, BuiltImage, ImageBuilder } from '../../ports/image-builder.ts';
import { buildDevImage } from '../dev-image/build-dev-image.ts';
import type { BuildDevImageOptions, DevImage } from '../dev-image/build-dev-image.ts';

/** What the dev image is built from on this host (the agent's dev-image settings, such as MVM_DEV_KERNEL_PACKAGE). */
export type DevImageSettings = Omit<BuildDevImageOptions, 'runner' | 'logger'> & {
  cacheDir: string;
};

/** The dev image builder's log lines as build-log lines: what it does now, with its key facts. */
export function lineLogger(line: (text: string) => void): Logger {
  const write = (obj: object, msg?: string): void => {
    const facts = Object.entries(obj)
      .filter(([, value]) => ['string', 'number'].includes(typeof value))
      .map(([key, value]) => `${key}=${String(value)}`);
    line([msg ?? '', ...facts].join(' ').trim());
  };
  return { info: write, warn: write, error: write, debug: () => undefined };
}

/**
 * The dev image (Debian kernel, mvm's first stage, a busybox rootfs), built or found in the
 * cache. It also lends its kernel and first stage to sources that bring a rootfs only.
 */
export class DevImages {
  constructor(
    private readonly settings: DevImageSettings,
    private readonly runner: ProcessRunner,
  ) {}

  async load(context?: Pick<BuildContext, 'log'>): Promise<DevImage> {
    const pending: Promise<void>[] = [];
    const logger = lineLogger((text) => {
      if (context) pending.push(context.log(`dev image: ${text}`));
    });
    const image = await buildDevImage({
      ...this.settings,
      runner: this.runner,
      logger,
      kernel: { ...this.settings.kernel, logger },
    });
    await Promise.all(pending);
    return image;
  }
}

/** Builds a revision of the dev image itself (a pool with no source). */
export class DevImageBuilder implements ImageBuilder {
  constructor(private readonly images: DevImages) {}

  async build(_input: unknown, context: BuildContext): Promise<BuiltImage> {
    await context.log('building the dev image (a first build fetches a Debian kernel)');
    const image = await this.images.load(context);
    await context.log(`dev image ${image.revision}`);
    return {
      kernel: image.vmlinux,
      initrd: image.initrd,
      rootfs: image.rootfs,
      cmdline: image.cmdlineBase,
      workload: null,
      source: { kind: 'dev', devImage: image.revision },
    };
  }
}

import { devImageOptions } from '../../../agent/agent-config.ts';
import { ValidationError } from '../../../core/errors.ts';
import type { Logger } from '../../../ports/logger.ts';
import { defineCommand, flag } from '../../command.ts';
import type { Block } from '../../render.ts';
import type { CachedImage } from './image-cache.ts';
import { cacheDirOption, cachedRevisions, mib, readCachedImage } from './image-cache.ts';

export interface BuiltImage extends CachedImage {
  /** True when the revision was already in the cache: nothing was built. */
  cached: boolean;
  cmdlineBase: string;
  ms: number;
}

/** Loaded only here, so other commands start without the image builder. */
async function loadBuilder() {
  const [{ buildDevImage }, { NodeProcessRunner }] = await Promise.all([
    import('../../../drivers/dev-image/build-dev-image.ts'),
    import('../../../drivers/process/node-process-runner.ts'),
  ]);
  return { buildDevImage, runner: new NodeProcessRunner() };
}

/** The builder's log lines as progress lines: what it does now, with its key facts. */
function progressLogger(print: (line: string) => void): Logger {
  const line = (obj: object, msg?: string): void => {
    const facts = Object.entries(obj)
      .filter(([, value]) => ['string', 'number'].includes(typeof value))
      .map(([key, value]) => `${key}=${String(value)}`);
    print(`  ${[msg ?? '', ...facts].join(' ').trim()}`);
  };
  return { info: line, warn: line, error: line, debug: () => undefined };
}

export const imageBuild = defineCommand({
  path: ['image', 'build'],
  description:
    'Build (or reuse from the cache) the dev guest image: a Debian kernel plus a busybox initramfs with the guest agent',
  args: {},
  options: {
    dev: flag('build the dev image (the only kind so far)'),
    cacheDir: cacheDirOption,
  },
  output: 'data',
  async handler(ctx, _args, opts) {
    if (opts.dev !== true) {
      throw new ValidationError(
        "only the dev image can be built so far; run 'mvm image build --dev'",
      );
    }
    const settings = devImageOptions(
      ctx.agentConfig(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
    );
    const cacheDir = settings.cacheDir;
    ctx.print(`dev image: resolving in ${cacheDir} (a first build fetches a Debian kernel) ...`);
    const before = await cachedRevisions(cacheDir);
    const started = Date.now();
    const { buildDevImage, runner } = await loadBuilder();
    const logger = progressLogger((line) => ctx.print(line));
    const image = await buildDevImage({
      ...settings,
      runner,
      logger,
      kernel: { ...settings.kernel, logger },
    });
    const found = await readCachedImage(image.dir);
    if (!found) throw new Error(`the builder returned ${image.dir} but it holds no complete image`);
    const built: BuiltImage = {
      ...found,
      cached: before.has(image.revision),
      cmdlineBase: image.cmdlineBase,
      ms: Date.now() - started,
    };
    ctx.print(`dev image: ${built.cached ? 'found in the cache' : 'built'} in ${built.ms} ms`);
    return { data: built, human: [builtFields(built)] };
  },
});

function builtFields(image: BuiltImage): Block {
  return {
    kind: 'fields',
    title: `dev image ${image.revision.slice(0, 12)} (${image.cached ? 'from cache' : 'newly built'})`,
    fields: [
      ['revision', image.revision],
      ['cached', image.cached ? 'yes' : 'no'],
      ['kernel', image.kernelRelease],
      ['vmlinux', `${image.vmlinux} (${mib(image.vmlinuxBytes)})`],
      ['initrd', `${image.initrd} (${mib(image.initrdBytes)})`],
      ['rootfs', `${image.rootfs} (${mib(image.rootfsBytes)}, read-only)`],
      ['modules', String(image.modules)],
      ['cmdline', image.cmdlineBase],
    ],
  };
}

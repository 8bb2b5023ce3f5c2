import { defineCommand } from '../../command.ts';
import { cacheDirOf, cacheDirOption, listCachedImages, mib } from './image-cache.ts';

export const imageList = defineCommand({
  path: ['image', 'list'],
  description: 'List the guest images in the local image cache (newest first)',
  args: {},
  options: { cacheDir: cacheDirOption },
  output: 'data',
  async handler(ctx, _args, opts) {
    const cacheDir = cacheDirOf(ctx, opts.cacheDir);
    const images = await listCachedImages(cacheDir);
    return {
      data: images,
      human: [
        {
          kind: 'table',
          columns: ['REVISION', 'KERNEL', 'VMLINUX', 'INITRD', 'ROOTFS', 'MODULES', 'BUILT'],
          rows: images.map((image) => [
            image.revision.slice(0, 12),
            image.kernelRelease,
            mib(image.vmlinuxBytes),
            mib(image.initrdBytes),
            mib(image.rootfsBytes),
            String(image.modules),
            image.builtAt,
          ]),
          empty: `no images in ${cacheDir}/images; build one with 'mvm image build --dev'`,
        },
      ],
    };
  },
});

import { gzipSync } from 'node:zlib';
import { packCpio } from './cpio-newc.ts';
import type { CpioEntry } from './cpio-newc.ts';

export interface InitramfsInputs {
  busybox: Uint8Array;
  /** Applet names from `busybox --list`; each becomes /bin/<name> -> busybox. */
  applets: readonly string[];
  /** The first-stage init: loads modules, mounts the rootfs drive read-only, switches root. */
  init: string;
  /** Modules in load order; written as /lib/mvm/modules/NN-name.ko plus an `order` file. */
  modules: ReadonlyArray<{ name: string; data: Uint8Array }>;
}

const DIRS = ['bin', 'dev', 'lib', 'lib/mvm', 'lib/mvm/modules', 'newroot', 'proc', 'sys'];

/**
 * The dev image's first stage as one gzipped newc archive: just enough (busybox, kernel
 * modules, /init) to find the read-only rootfs drive and hand over to it.
 */
export function buildInitramfs(inputs: InitramfsInputs): Buffer {
  const entries: CpioEntry[] = DIRS.map((path) => ({ kind: 'dir', path }));
  // The kernel opens /dev/console before /init mounts devtmpfs; without it init has no stdio.
  entries.push({ kind: 'chardev', path: 'dev/console', major: 5, minor: 1 });
  entries.push({ kind: 'file', path: 'bin/busybox', data: inputs.busybox, mode: 0o755 });
  for (const applet of new Set(inputs.applets)) {
    if (applet === 'busybox' || !/^[A-Za-z0-9_.[-]+$/.test(applet)) continue;
    entries.push({ kind: 'symlink', path: `bin/${applet}`, target: 'busybox' });
  }
  entries.push({ kind: 'file', path: 'init', data: Buffer.from(inputs.init), mode: 0o755 });
  entries.push(...moduleEntries(inputs.modules));
  // gzip's header carries no mtime or name here, so equal archives compress to equal bytes.
  return gzipSync(packCpio(entries), { level: 9 });
}

function moduleEntries(modules: InitramfsInputs['modules']): CpioEntry[] {
  const names = modules.map((mod, index) => `${String(index).padStart(2, '0')}-${mod.name}.ko`);
  const files: CpioEntry[] = modules.map((mod, index) => ({
    kind: 'file',
    path: `lib/mvm/modules/${names[index] ?? ''}`,
    data: mod.data,
  }));
  const order = names.length > 0 ? `${names.join('\n')}\n` : '';
  files.push({ kind: 'file', path: 'lib/mvm/modules/order', data: Buffer.from(order) });
  return files;
}

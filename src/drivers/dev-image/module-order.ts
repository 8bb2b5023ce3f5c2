/**
 * Which kernel modules the dev image loads, and in which order. Resolved on the host from
 * depmod's output so the guest can use plain `insmod` and needs no modprobe data.
 */

/**
 * What a microvm guest needs: virtio-mmio transport, disks, network, the serial channel
 * (QEMU), the vsock transport (Firecracker), ext4, and overlayfs (the root: an image that lacks
 * mvm's mount points gets them on a tmpfs layer over it, the image itself untouched), and the
 * balloon that hands free guest pages back to the host (drivers/qemu/qemu-balloon.ts).
 */
export const MICROVM_MODULES = [
  'virtio_mmio',
  'virtio_blk',
  'virtio_net',
  'virtio_console',
  'vmw_vsock_virtio_transport',
  'ext4',
  'overlay',
  'virtio_balloon',
] as const;

/** ext4/jbd2 checksum with crc32c through the crypto API; modprobe's softdep loads it first. */
const SOFT_PREDEPS: Readonly<Record<string, readonly string[]>> = {
  ext4: ['crc32c_generic'],
  jbd2: ['crc32c_generic'],
};

export interface ModuleTables {
  /** Contents of modules.dep. */
  dep: string;
  /** Contents of modules.builtin. */
  builtin: string;
}

/** Module name as the kernel knows it: file base name without .ko(.xz|.zst), `-` as `_`. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/**
 * Relative paths (as in modules.dep) of every module to load, dependencies first.
 * Modules built into the kernel are skipped; unknown ones are an error.
 */
export function resolveModuleOrder(wanted: readonly string[], tables: ModuleTables): string[] {
  const deps = parseDep(tables.dep);
  const builtin = new Set(
    tables.builtin
      .split('\n')
      .filter(Boolean)
      .map((line) => moduleName(line.trim())),
  );
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string, optional: boolean): void => {
    if (seen.has(name) || builtin.has(name)) return;
    const entry = deps.get(name);
    if (!entry) {
      if (optional) return;
      throw new Error(`kernel module '${name}' is neither built in nor in modules.dep`);
    }
    seen.add(name);
    for (const soft of SOFT_PREDEPS[name] ?? []) visit(soft, true);
    for (const dep of entry.deps) visit(moduleName(dep), false);
    order.push(entry.path);
  };
  for (const name of wanted) visit(name, false);
  return order;
}

function parseDep(text: string): Map<string, { path: string; deps: string[] }> {
  const map = new Map<string, { path: string; deps: string[] }>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    map.set(moduleName(path), { path, deps });
  }
  return map;
}

/**
 * What a QEMU process holds beyond its guest's RAM, so a cgroup memory limit of guest RAM plus
 * this figure contains a runaway VMM without ever stopping a healthy one.
 *
 * Under TCG the largest part is the translation cache: QEMU 7.2 sizes it at 1 GiB by default
 * and it stays resident once filled, so the driver bounds it (`-accel tcg,tb-size=16`). The
 * rest is QEMU's heap, device state and the pages of its binary and libraries that the VMM's
 * cgroup is charged for.
 *
 * Measured on the development host (QEMU 7.2, TCG, dev image, confined; `npx tsx
 * bench/vmm-memory.ts` repeats it, `--limit` then proves a healthy VMM lives within the
 * figure): the VMM is in its cgroup from its first instruction, the guest touches all the RAM
 * it can (one `dd` buffer of nearly all MemAvailable, then every file read), sleeps, wakes
 * and does it again. Beyond guest RAM:
 *
 * | guest   | RssAnon | cgroup peak (max_usage_in_bytes) | VmHWM (with shared libraries) |
 * | ------- | ------- | -------------------------------- | ----------------------------- |
 * | 256 MiB | +80 MiB | +105 MiB                         | +148 MiB                      |
 * | 512 MiB | +77 MiB | +100 MiB                         | +146 MiB                      |
 *
 * RssAnon is what must fit: the cgroup reclaims page cache (the drives' pages the guest
 * read, the rest of the peak) under its limit, never anonymous memory, and the binary's and
 * libraries' pages are mostly charged to whoever read them first. It is the full 64 MiB
 * translation cache plus ~16 MiB of QEMU's own. With headroom: 64 + 48 = 112 MiB under TCG.
 * With the limit at guest RAM + 112 MiB the same runs peaked at +103 to +106 MiB (page cache
 * reclaimed at the limit) with no OOM kill. With the 16 MiB cache below, the figure is
 * 16 + 48 = 64 MiB (bench/density.ts: ~13.5 MiB of QEMU's own beside the cache).
 */
import type { Accel } from './qemu-args.ts';

/**
 * TCG translation cache in MiB: bounded, so it counts once in the overhead. 16, not the 64 the
 * table above was measured with: it saves 48 MiB of every TCG guest's host memory, and in
 * bench/density.ts (three guests each) a 16 MiB cache booted and ran the demo workload as fast
 * as 64 (10.0 s and 5.0 s against 9.8 s and 4.5 s on a quiet host), while 8 and 4 took twice
 * as long on a loaded one (docs/density.md).
 */
export const TCG_TB_SIZE_MIB = 16;

/** QEMU's own anonymous memory beyond guest RAM and the translation cache (~16 MiB measured), with headroom. */
export const MEASURED_BASE_OVERHEAD_MIB = 48;

export function qemuMemOverheadMib(accel: Accel, tbSizeMib = TCG_TB_SIZE_MIB): number {
  return MEASURED_BASE_OVERHEAD_MIB + (accel === 'tcg' ? tbSizeMib : 0);
}

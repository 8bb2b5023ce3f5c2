/**
 * What a QEMU process holds beyond its guest's RAM, so a cgroup memory limit of guest RAM plus
 * this figure contains a runaway VMM without ever stopping a healthy one.
 *
 * Under TCG the largest part is the translation cache: QEMU 7.2 sizes it at 1 GiB by default
 * and it stays resident once filled, so the driver bounds it (`-accel tcg,tb-size=64`). The
 * rest is QEMU's heap, device state and the pages of its binary and libraries that the VMM's
 * cgroup is charged for.
 *
 * Measured on the development host (QEMU 7.2, TCG, dev image; `bench/vmm-memory.ts` repeats
 * it): each guest touches all its RAM (`dd bs=<80% of RAM>` inside, then a second pass over
 * its files); the peak of the VMM's own memory cgroup (`memory.max_usage_in_bytes`, v1) minus
 * guest RAM was the overhead. See MEASURED_BASE_OVERHEAD_MIB for the figures.
 */
import type { Accel } from './qemu-args.ts';

/** TCG translation cache in MiB: bounded, so it counts once in the overhead. */
export const TCG_TB_SIZE_MIB = 64;

/**
 * Peak cgroup charge beyond guest RAM and the translation cache, rounded up with headroom:
 * 256 MiB guest: 28 MiB, 512 MiB guest: 30 MiB (sleep and wake included) -> 48 MiB.
 */
export const MEASURED_BASE_OVERHEAD_MIB = 48;

export function qemuMemOverheadMib(accel: Accel): number {
  return MEASURED_BASE_OVERHEAD_MIB + (accel === 'tcg' ? TCG_TB_SIZE_MIB : 0);
}

import { readFileSync } from 'node:fs';

/**
 * A point on the host's monotonic clock (CLOCK_MONOTONIC, ms since boot: `process.hrtime`),
 * with the boot it belongs to (the kernel's boot id). Unlike the wall clock it is not stepped
 * (an operator's `date -s`, a first NTP sync), and it is the same for every process of one
 * boot, so an agent restarted on the same boot measures a wake's age across the restart
 * exactly. Points of different boots do not compare.
 */
export interface BootTime {
  boot: string;
  ms: number;
}

const BOOT_ID = '/proc/sys/kernel/random/boot_id';
let bootId: string | null | undefined;

/** Now on this host's monotonic clock; undefined where the kernel names no boot (not Linux). */
export function bootTime(): BootTime | undefined {
  bootId ??= readBootId();
  if (bootId === null) return undefined;
  return { boot: bootId, ms: Number(process.hrtime.bigint() / 1_000_000n) };
}

function readBootId(): string | null {
  try {
    const id = readFileSync(BOOT_ID, 'utf8').trim();
    return id === '' ? null : id;
  } catch {
    return null;
  }
}

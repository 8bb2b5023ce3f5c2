/**
 * What a real guest and its VMM hold: the VMM's resident memory from /proc (host side) and the
 * guest's own account from /proc/meminfo (through the guest agent's exec). Shared by the
 * balloon test and bench/density.ts.
 */
import { readFile } from 'node:fs/promises';
import type { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';

const MiB_PER_KiB = 1 / 1024;

/** Fields of /proc/<pid>/status in MiB: VmRSS (all resident), RssAnon, RssFile. */
export interface VmmResident {
  rss: number;
  anon: number;
  file: number;
}

export async function vmmResident(pid: number): Promise<VmmResident> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const value = new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, 'm').exec(text)?.[1];
    if (value === undefined) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(value) * MiB_PER_KiB;
  };
  return { rss: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
}

/** Runs `sh -c command` in the guest; its stdout, or an error with its stderr and exit code. */
export async function guestSh(client: GuestAgentClient, command: string): Promise<string> {
  const run = await client.exec({ argv: ['sh', '-c', command] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  run.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  run.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const exit = await run.exit;
  const stdout = Buffer.concat(out).toString('utf8');
  if (exit.code !== 0) {
    throw new Error(
      `guest command failed (${JSON.stringify(exit)}): ${command}: ${Buffer.concat(err).toString('utf8')}`,
    );
  }
  return stdout;
}

/** The guest's /proc/meminfo. */
export function guestMeminfo(client: GuestAgentClient): Promise<string> {
  return guestSh(client, 'cat /proc/meminfo');
}

/**
 * The guest's working set, MiB, by its own /proc/meminfo: what it does not have free
 * (MemTotal - MemFree; page cache counts, as it occupies host memory the same way), and
 * `reserved`, what the kernel keeps out of MemTotal (its image, struct pages: RAM - MemTotal),
 * and `cache`, its page cache (Cached + Buffers), part of `used`.
 */
export async function guestWorkingSetMib(
  client: GuestAgentClient,
  ramMib: number,
): Promise<{ used: number; reserved: number; cache: number }> {
  const text = await guestMeminfo(client);
  const kib = (name: string): number => {
    const value = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1];
    if (value === undefined) throw new Error(`no ${name} in the guest's /proc/meminfo`);
    return Number(value);
  };
  return {
    used: (kib('MemTotal') - kib('MemFree')) * MiB_PER_KiB,
    reserved: ramMib - kib('MemTotal') * MiB_PER_KiB,
    cache: (kib('Cached') + kib('Buffers')) * MiB_PER_KiB,
  };
}

/** Fills a fresh tmpfs in the guest with `mib` MiB (pages the guest really holds). */
export function guestHogCommand(mib: number): string {
  return (
    'mkdir -p /tmp/mvm-hog && mount -t tmpfs -o size=' +
    `${mib + 16}m mvm-hog /tmp/mvm-hog && dd if=/dev/zero of=/tmp/mvm-hog/fill bs=1M count=${mib} 2>/dev/null && echo filled`
  );
}

/** Frees what guestHogCommand took. */
export const GUEST_FREE_COMMAND = 'rm -f /tmp/mvm-hog/fill && umount /tmp/mvm-hog && echo freed';

/**
 * The VMM's resident memory split in two, MiB: the guest RAM mapping (the one anonymous
 * mapping of the guest's size in /proc/<pid>/smaps) and everything else, the VMM's own
 * (heap, device state, the TCG translation cache, its binary's and libraries' pages).
 */
export async function vmmSplit(
  pid: number,
  guestMemMib: number,
): Promise<{ guestRam: number; own: number; ownAnon: number; total: number }> {
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8');
  let total = 0;
  let guestRam = 0;
  let sizeKib = 0;
  let anonymous = false;
  let ownAnon = 0;
  let anonPages = false;
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (header) {
      sizeKib = (parseInt(header[2] ?? '0', 16) - parseInt(header[1] ?? '0', 16)) / 1024;
      anonymous = header[3] === '0' && (header[4] ?? '').trim() === '';
      // Heap and stacks are named but anonymous too; a file path is what is shared.
      anonPages = header[3] === '0';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB$/.exec(line);
    if (!rss) continue;
    const kib = Number(rss[1]);
    total += kib;
    const isGuestRam =
      anonymous && sizeKib >= guestMemMib * 1024 && sizeKib <= (guestMemMib + 4) * 1024;
    if (isGuestRam) guestRam += kib;
    else if (anonPages) ownAnon += kib;
  }
  return {
    guestRam: guestRam * MiB_PER_KiB,
    own: (total - guestRam) * MiB_PER_KiB,
    ownAnon: ownAnon * MiB_PER_KiB,
    total: total * MiB_PER_KiB,
  };
}

/**
 * A VMM's memory from /proc/<pid>/smaps_rollup, MiB: `rss` counts every resident page in full;
 * `pss` shares each page among the processes that map it (QEMU's binary and libraries, and
 * the kernel image file every VMM of an image maps, split N ways), so the PSS of all VMMs adds
 * up to what they take together; `uss` is what only this VMM maps (Private_Clean +
 * Private_Dirty), freed when it exits; `anon` its anonymous memory (guest RAM, heap, the TCG
 * translation cache), which the host can only reclaim by swapping; `pssFile` the file pages'
 * share, clean and reclaimable.
 */
export interface VmmRollup {
  rss: number;
  pss: number;
  uss: number;
  anon: number;
  pssFile: number;
}

export async function vmmRollup(pid: number): Promise<VmmRollup> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (name: string): number => {
    const value = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1];
    if (value === undefined) throw new Error(`no ${name} in /proc/${pid}/smaps_rollup`);
    return Number(value) * MiB_PER_KiB;
  };
  return {
    rss: field('Rss'),
    pss: field('Pss'),
    uss: field('Private_Clean') + field('Private_Dirty'),
    anon: field('Anonymous'),
    pssFile: field('Pss_File'),
  };
}

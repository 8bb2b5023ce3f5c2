/**
 * How a VMM process is confined, read from outside as an operator would: /proc/<pid>/status
 * of every thread (ids, capabilities, seccomp, no_new_privs) and the root it sees.
 */
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { expect } from 'vitest';

export interface ThreadConfinement {
  tid: string;
  name: string;
  /** Real, effective, saved and filesystem ids. */
  uids: number[];
  gids: number[];
  capEff: bigint;
  capPrm: bigint;
  capBnd: bigint;
  /** 0: none, 1: strict, 2: filter. */
  seccomp: number;
  noNewPrivs: number;
}

export interface VmmConfinement {
  pid: number;
  threads: ThreadConfinement[];
  /** readlink of /proc/<pid>/root (the jailer's pivot_root shows as '/'). */
  rootLink: string;
  /** Device and inode of the directory the process sees as '/'. */
  root: { dev: number; ino: number };
}

export async function readVmmConfinement(pid: number): Promise<VmmConfinement> {
  const tids = await readdir(`/proc/${pid}/task`);
  const threads = await Promise.all(
    tids.map(async (tid) =>
      parseStatus(tid, await readFile(`/proc/${pid}/task/${tid}/status`, 'utf8')),
    ),
  );
  const rootStat = await stat(`/proc/${pid}/root/`);
  return {
    pid,
    threads,
    rootLink: await readlink(`/proc/${pid}/root`),
    root: { dev: rootStat.dev, ino: rootStat.ino },
  };
}

function parseStatus(tid: string, text: string): ThreadConfinement {
  const field = (name: string): string => {
    const match = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text);
    if (!match?.[1]) throw new Error(`no ${name} in /proc status of thread ${tid}`);
    return match[1].trim();
  };
  const ids = (name: string): number[] => field(name).split(/\s+/).map(Number);
  return {
    tid,
    name: field('Name'),
    uids: ids('Uid'),
    gids: ids('Gid'),
    capEff: BigInt(`0x${field('CapEff')}`),
    capPrm: BigInt(`0x${field('CapPrm')}`),
    capBnd: BigInt(`0x${field('CapBnd')}`),
    seccomp: Number(field('Seccomp')),
    noNewPrivs: Number(field('NoNewPrivs')),
  };
}

/**
 * Every thread runs as `identity` (never root), with no effective or permitted capability,
 * under a seccomp filter and no_new_privs; the process's root is `jail` (not the host's).
 */
export async function expectConfined(
  pid: number,
  identity: { uid: number; gid: number },
  jail: string,
): Promise<VmmConfinement> {
  const seen = await readVmmConfinement(pid);
  expect(seen.threads.length).toBeGreaterThan(0);
  for (const thread of seen.threads) {
    const at = `thread ${thread.tid} (${thread.name}) of pid ${pid}`;
    expect(thread.uids, at).toEqual([identity.uid, identity.uid, identity.uid, identity.uid]);
    expect(thread.gids, at).toEqual([identity.gid, identity.gid, identity.gid, identity.gid]);
    expect(thread.uids[0], at).not.toBe(0);
    expect(thread.capEff, at).toBe(0n);
    expect(thread.capPrm, at).toBe(0n);
    expect(thread.seccomp, at).toBe(2);
    expect(thread.noNewPrivs, at).toBe(1);
  }
  const hostRoot = await stat('/');
  const jailRoot = await stat(jail);
  expect(seen.root).not.toEqual({ dev: hostRoot.dev, ino: hostRoot.ino });
  expect(seen.root).toEqual({ dev: jailRoot.dev, ino: jailRoot.ino });
  return seen;
}

/** Capability numbers set in a mask, for readable failures (CAP_SYS_CHROOT is 18). */
export function capabilityBits(mask: bigint): number[] {
  const bits: number[] = [];
  for (let bit = 0; bit < 64; bit += 1) if ((mask >> BigInt(bit)) & 1n) bits.push(bit);
  return bits;
}

/** CAP_SETGID, CAP_SETUID, CAP_SYS_CHROOT: all a confined QEMU's bounding set keeps. */
export const QEMU_BOUNDING = [6, 7, 18];

/**
 * A confined QEMU with a network got its taps as descriptors (mvm-tapfd): every thread's
 * bounding set is QEMU_BOUNDING (no CAP_NET_ADMIN, 12), its command line names no tap, and
 * each `-netdev tap,…,fd=N` descriptor is attached to a tap. Returns those taps' names.
 */
export async function expectTapsInherited(pid: number): Promise<string[]> {
  for (const thread of (await readVmmConfinement(pid)).threads) {
    expect(capabilityBits(thread.capBnd), `pid ${pid} thread ${thread.tid}`).toEqual(QEMU_BOUNDING);
  }
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  expect(argv.join(' ')).not.toContain('ifname=');
  const netdevs = argv.flatMap((arg, i) => (argv[i - 1] === '-netdev' ? [arg] : []));
  expect(netdevs.length, `pid ${pid} has a network`).toBeGreaterThan(0);
  const taps: string[] = [];
  for (const netdev of netdevs) {
    const fd = /^tap,id=[^,]+,fd=(\d+),vhost=off$/.exec(netdev)?.[1];
    expect(fd, netdev).toBeDefined();
    const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    const tap = /^iff:\s+(\S+)$/m.exec(info)?.[1];
    expect(tap, `fd ${fd} of pid ${pid} is a tap`).toBeDefined();
    taps.push(tap ?? '');
  }
  return taps;
}

/** QEMU processes whose command line names a path under `dir` (as ps would show them). */
export async function qemuPidsUnder(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!/qemu-system/.test(argv[0] ?? '')) continue;
    if (argv.some((arg) => arg.includes(`${dir}/`))) pids.push(pid);
  }
  return pids.sort((a, b) => a - b);
}

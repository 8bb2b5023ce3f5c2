/**
 * QEMU opens no file of the guest itself: the driver opens the drives (and, on restore, the
 * migration stream) and hands them over as inherited descriptors, so a chrooted, unprivileged
 * QEMU needs neither the paths nor the right to open them. Drives go through fd sets
 * (`-add-fd` + `file=/dev/fdset/N`): the block layer re-opens a drive from its set (a
 * writable drive is probed read-only first), which a bare fd would not allow.
 *
 * QEMU's own image locking is off for these drives (`file.locking=off`): its byte-range locks
 * are per open file description, and after a migration QEMU re-takes them through the other
 * descriptor of the set, which conflicts with itself ("Failed to get write lock" on resume).
 * What the locks guarded against, two VMMs on one writable drive, the driver refuses itself:
 * a VM's data drive is its own, and a launch fails while the VM's QEMU still runs.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { HostError } from '../../core/errors.ts';
import type { VmSpec } from '../../ports/vmm.ts';
import type { TapFd } from './qemu-confine.ts';

/** Descriptors 0-2 are stdio; the first inherited one is 3. */
const FIRST_FD = 3;

export interface FdOpen {
  path: string;
  mode: 'r' | 'r+';
}

export interface FdLayout {
  /** What to open, in order: the child gets `opens[i]` as fd 3 + i. */
  opens: FdOpen[];
  /** Per drive, in spec order: its fd set id and the child's fds in that set. */
  driveSets: { set: number; fds: number[] }[];
  /** The child's fd of the incoming migration stream, when restoring. */
  incomingFd?: number;
  /**
   * Per NIC, in spec order, when taps are passed as descriptors: the fd mvm-tapfd attaches
   * the tap to (after every opened file; the driver opens none of them itself).
   */
  tapFds?: TapFd[];
}

/**
 * Pure: which files a launch of `spec` opens, and where the child finds them; with `tapsAsFds`,
 * where it finds its taps too.
 */
export function fdLayout(
  spec: Pick<VmSpec, 'drives' | 'nets'>,
  incomingState?: string,
  tapsAsFds = false,
): FdLayout {
  const opens: FdOpen[] = [];
  const add = (path: string, mode: FdOpen['mode']): number => {
    opens.push({ path, mode });
    return FIRST_FD + opens.length - 1;
  };
  const driveSets = spec.drives.map((drive, index) => {
    const fds = drive.readOnly
      ? [add(drive.path, 'r')]
      : [add(drive.path, 'r+'), add(drive.path, 'r')];
    return { set: index + 1, fds };
  });
  const incoming = incomingState === undefined ? {} : { incomingFd: add(incomingState, 'r') };
  const next = FIRST_FD + opens.length;
  const tapFds = spec.nets.map((net, index) => ({
    ifname: net.tap,
    fd: next + index,
    ...(net.transient ? { transient: true } : {}),
  }));
  return { opens, driveSets, ...incoming, ...(tapsAsFds && tapFds.length > 0 ? { tapFds } : {}) };
}

export interface OpenedFds {
  /** Host descriptors, in the layout's order (pass as SpawnOptions.fds). */
  fds: number[];
  /** Closes the driver's copies (after the spawn, and on failure). */
  close(): Promise<void>;
}

/** Opens every file of the layout; nothing stays open if one of them fails. */
export async function openFds(layout: FdLayout): Promise<OpenedFds> {
  const handles: FileHandle[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(handles.splice(0).map((h) => h.close().catch(() => undefined)));
  };
  try {
    for (const file of layout.opens) handles.push(await open(file.path, file.mode));
  } catch (error) {
    await close();
    const why = (error as Error).message;
    throw new HostError(`could not open a file for the VMM: ${why}; check that it exists`, {
      files: layout.opens.map((f) => f.path),
    });
  }
  return { fds: handles.map((h) => h.fd), close };
}

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { VmmCapabilities } from '../../ports/vmm.ts';

export type GuestChannel = VmmCapabilities['guestChannel'];

/** The dev image's second-stage init (PID 1 on the rootfs): it starts the guest agent. */
export const ROOTFS_INIT_PATH = fileURLToPath(
  new URL('../../../images/dev/rootfs-init', import.meta.url),
);

/**
 * The channels an init serves the guest agent on, read from what it starts: virtio-serial
 * when it runs agent.sh on the `mvm.agent` port (QEMU), vsock when it runs agent.sh behind a
 * VSOCK-LISTEN (Firecracker). Read from the image, so the answer cannot go stale.
 */
export function guestChannelsOf(init: string): GuestChannel[] {
  const channels: GuestChannel[] = [];
  if (/agent\.sh\s+mvm\.agent\b/.test(init)) channels.push('virtio-serial');
  if (/VSOCK-LISTEN:.*agent\.sh --stdio/.test(init)) channels.push('vsock');
  return channels;
}

/** The channels the dev image the agent builds serves its guest agent on. */
export async function devImageGuestChannels(): Promise<GuestChannel[]> {
  return guestChannelsOf(await readFile(ROOTFS_INIT_PATH, 'utf8'));
}

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { VmmCapabilities } from '../../ports/vmm.ts';

export type GuestChannel = VmmCapabilities['guestChannel'];

/** PID 1 of every guest, on mvm's init drive: it starts the guest agent. */
export const MVM_INIT_PATH = fileURLToPath(
  new URL('../../../images/dev/mvm-init', import.meta.url),
);

/**
 * The channels an init serves the guest agent on, read from the agent command it starts:
 * virtio-serial when it passes `--port mvm.agent` (QEMU), vsock when it passes `--vsock`
 * (Firecracker). Read from the image, so the answer cannot go stale.
 */
export function guestChannelsOf(init: string): GuestChannel[] {
  const channels: GuestChannel[] = [];
  const agent = /mvm-agent serve\b[^\n;]*/.exec(init)?.[0] ?? '';
  if (/--port mvm\.agent\b/.test(agent)) channels.push('virtio-serial');
  if (/--vsock \d+/.test(agent)) channels.push('vsock');
  return channels;
}

/** The channels the dev image the agent builds serves its guest agent on. */
export async function devImageGuestChannels(): Promise<GuestChannel[]> {
  return guestChannelsOf(await readFile(MVM_INIT_PATH, 'utf8'));
}

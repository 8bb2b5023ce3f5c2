import { createHash } from 'node:crypto';

/**
 * An instance's machine-id (32 lower-case hex digits, as /etc/machine-id holds it): derived
 * from its VM key, so it is the same on every boot of the instance, on every node it moves
 * to, and whether it was cold-booted (the init reads `mvm.machine_id=` from the kernel command
 * line) or cloned from a pool base (the guest's `identity` op), and no two instances share it.
 */
export function machineIdOf(vmKey: string): string {
  return createHash('sha256').update(`mvm machine-id\0${vmKey}`).digest('hex').slice(0, 32);
}

import { ConflictError } from '../../core/errors.ts';
import type { GuestAgentClient } from '../../drivers/guest-channel/guest-agent-client.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { RuntimeDeps } from './deps.ts';

/**
 * The guest agent of a running instance, for exec, pty and file sessions. Sessions take no
 * instance lock (they may run for hours); a sleep drains them through the guest instead, and
 * a stop or sleep that replaces the VMM ends them (the client of the old process is closed).
 * A warm or sleeping instance must be woken first: that decision is the caller's.
 */
export function guestOf(deps: RuntimeDeps, record: VmRecord): GuestAgentClient {
  if (record.status !== 'running' || !record.handle) {
    throw new ConflictError(
      `instance '${record.key}' is ${record.status}, not running: wake or start it before reaching its guest`,
      { key: record.key, status: record.status },
    );
  }
  return deps.guests.for(record.handle);
}

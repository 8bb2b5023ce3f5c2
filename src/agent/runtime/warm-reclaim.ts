import { errorMessage } from '../../core/errors.ts';
import type { ExecExit } from '../../contract/guest-protocol-v2.ts';
import type { GuestAgentClient } from '../../drivers/guest-channel/guest-agent-client.ts';
import type { VmHandle } from '../../ports/vmm.ts';
import type { RuntimeDeps } from './deps.ts';

/**
 * Before an instance goes warm (running -> warm), the guest gives back what it holds only as
 * cache: it drops its page cache and reclaimable slab (dentries, inodes) and compacts its free
 * memory, then runs a moment longer so its free-page reporting (drivers/qemu/qemu-balloon.ts)
 * hands those pages to the host before the pause. A paused guest cannot report, so without this
 * a warm instance keeps every cache page it had. Off unless the agent's `MVM_WARM_RECLAIM=on`
 * (docs/density.md: what it saves, measured in bench/density.ts).
 *
 * Best effort: a guest without /mvm/bin/sh, a failing command or a lost channel costs the
 * instance nothing but the saving; the warm goes on.
 */
export interface WarmReclaim {
  /** How long the guest runs after the reclaim so its reporting catches up (Linux waits 2 s). */
  settleMs: number;
  /** The guest command's bound. */
  timeoutMs: number;
}

export const DEFAULT_WARM_RECLAIM: WarmReclaim = { settleMs: 3_000, timeoutMs: 10_000 };

/** The guest's shell on mvm's own init drive, present in every image mvm boots. */
export const GUEST_SHELL = '/mvm/bin/sh';

/** Flush, drop clean caches and reclaimable slab, compact: what the guest frees for reporting. */
export const RECLAIM_SCRIPT =
  'sync; echo 3 > /proc/sys/vm/drop_caches; ' +
  '[ -w /proc/sys/vm/compact_memory ] && echo 1 > /proc/sys/vm/compact_memory; exit 0';

/** Runs the reclaim in the guest through its agent; its exit (124 when it timed out). */
export async function guestReclaim(guest: GuestAgentClient, timeoutMs: number): Promise<ExecExit> {
  const run = await guest.exec({ argv: [GUEST_SHELL, '-c', RECLAIM_SCRIPT], timeoutMs });
  run.stdout.resume();
  run.stderr.resume();
  return run.exit;
}

export async function reclaimBeforeWarm(deps: RuntimeDeps, vm: VmHandle): Promise<void> {
  const reclaim = deps.warmReclaim;
  if (!reclaim) return;
  const started = deps.clock.now().getTime();
  try {
    const exit = await guestReclaim(deps.guests.for(vm), reclaim.timeoutMs);
    if (exit.code !== 0) {
      deps.logger.warn({ key: vm.key, exit }, 'warm reclaim: the guest command failed');
      return;
    }
  } catch (error) {
    deps.logger.warn({ key: vm.key, error: errorMessage(error) }, 'warm reclaim skipped');
    return;
  }
  await deps.clock.sleep(reclaim.settleMs);
  deps.logger.debug({ key: vm.key, ms: deps.clock.now().getTime() - started }, 'warm reclaim done');
}

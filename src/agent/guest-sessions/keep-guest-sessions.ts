import { planRelays, stillWithoutExecutor } from '../../core/jobs/relay-plan.ts';
import type { Role } from '../../core/model.ts';
import type { Logger } from '../../ports/logger.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';
import type { VmRecord } from '../state/vm-repo.ts';

/** One long-lived session into a guest: resolves with the guest command's exit, or throws. */
export interface GuestSession {
  run(signal: AbortSignal): Promise<{ code: number } | undefined>;
}

export interface GuestSessionsOptions {
  /** `beforeLowering`: where the session is stopped before its guest is drained or paused. */
  runtime: Pick<InstanceRuntime, 'list'> & Partial<Pick<InstanceRuntime, 'beforeLowering'>>;
  /** The role whose running guests each get one. */
  role: Role;
  /** What the sessions are, for logs ("job executor", "worker broker"). */
  what: string;
  session(vm: VmRecord): GuestSession;
  logger: Logger;
  signal: AbortSignal;
  /** How often the running guests are looked at (default 2 s). */
  everyMs?: number;
}

/** A command the guest does not have: its image carries none. */
const NOT_FOUND = 127;
const RESTART_MS = 2_000;
/** After a session that could not start (a booting guest, an agent without exec). */
const RETRY_FAILED_MS = 10_000;
/**
 * How long a session stopped for a lowering stays stopped while its VM still runs: the guest's
 * drain deadline and then some. A VM that leaves running ends the hold at once; one whose drain
 * was refused (another session busy) gets its session back after this.
 */
const HOLD_MS = 30_000;

/**
 * Keeps one relayed session in every running guest of `role` on this node (the job executor
 * in workers, jobs/keep-job-relays.ts; the worker broker in gateways,
 * worker-exec/keep-worker-brokers.ts): restarted when it ends, stopped when its instance leaves
 * running and before its guest is drained (the drain counts an exec session as work), skipped
 * while that VM runs once its image answered 127. Resolves `done` once `signal` aborted and
 * every session ended.
 */
export function keepGuestSessions(options: GuestSessionsOptions): { done: Promise<void> } {
  const active = new Map<string, { abort: AbortController; ended: Promise<void> }>();
  let without = new Set<string>();
  /** Sessions stopped for a lowering (drain, pause, snapshot), until when (epoch ms). */
  const held = new Map<string, number>();
  const tick = async () => {
    const vms = await options.runtime.list();
    const view = vms.map((vm) => ({ key: vm.key, role: vm.spec.role, status: vm.status }));
    without = stillWithoutExecutor(view, without);
    for (const [key, until] of held) {
      const running = view.some((vm) => vm.key === key && vm.status === 'running');
      if (!running || until <= Date.now()) held.delete(key);
    }
    const skip = new Set([...without, ...held.keys()]);
    const plan = planRelays(view, new Set(active.keys()), skip, options.role);
    for (const key of plan.stop) active.get(key)?.abort.abort();
    for (const key of plan.start) {
      const vm = vms.find((v) => v.key === key);
      if (vm) active.set(key, start(vm));
    }
  };
  const start = (vm: VmRecord) => {
    const abort = new AbortController();
    const ended = sessionLoop(options, vm, abort.signal, () => without.add(vm.key)).finally(() =>
      active.delete(vm.key),
    );
    return { abort, ended };
  };
  const removeHook = options.runtime.beforeLowering?.(async (key) => {
    held.set(key, Date.now() + HOLD_MS);
    const session = active.get(key);
    session?.abort.abort();
    await session?.ended;
  });
  const done = (async () => {
    while (!options.signal.aborted) {
      await tick().catch((error: unknown) =>
        options.logger.warn(
          { err: error, role: options.role },
          `${options.what}s: could not list the guests`,
        ),
      );
      await delay(options.everyMs ?? 2_000, options.signal);
    }
    removeHook?.();
    for (const session of active.values()) session.abort.abort();
    await Promise.all([...active.values()].map((s) => s.ended));
  })();
  return { done };
}

async function sessionLoop(
  options: GuestSessionsOptions,
  vm: VmRecord,
  signal: AbortSignal,
  notInImage: () => void,
): Promise<void> {
  const session = options.session(vm);
  while (!signal.aborted) {
    const exit = await session.run(signal).catch((error: unknown) => {
      options.logger.warn({ err: error, instance: vm.key }, `${options.what} session failed`);
      return undefined;
    });
    if (exit?.code === NOT_FOUND) {
      options.logger.info({ instance: vm.key }, `the image has no ${options.what}`);
      notInImage();
      return;
    }
    await delay(exit === undefined ? RETRY_FAILED_MS : RESTART_MS, signal);
  }
}

/** Waits `ms` or until `signal` aborts; the abort listener goes with the wait (ticks add one). */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const abort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', abort);
      resolve();
    }, ms);
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  });
}

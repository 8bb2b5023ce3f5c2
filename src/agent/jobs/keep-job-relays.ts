import { planRelays, stillWithoutExecutor } from '../../core/jobs/relay-plan.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { Logger } from '../../ports/logger.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import { GuestJobRelay } from './guest-job-relay.ts';

export interface JobRelaysOptions {
  api: Pick<ApiClient, 'call'>;
  nodeId: string;
  /** `beforeLowering`: where the executor is stopped before its guest is drained or paused. */
  runtime: Pick<InstanceRuntime, 'list' | 'exec'> &
    Partial<Pick<InstanceRuntime, 'beforeLowering'>>;
  logger: Logger;
  signal: AbortSignal;
  /** How often the running worker guests are looked at (default 2 s). */
  everyMs?: number;
  /** The executor's lease (default 30 s). */
  leaseMs?: number;
}

/** A command the guest does not have: the image carries no executor. */
const NOT_FOUND = 127;
const RESTART_MS = 2_000;
/** After a session that could not start (a booting guest, an agent without exec). */
const RETRY_FAILED_MS = 10_000;
/**
 * How long an executor stopped for a lowering stays stopped while its VM still runs: the
 * guest's drain deadline and then some. A VM that leaves running ends the hold at once; one
 * whose drain was refused (another session busy) gets its executor back after this.
 */
const HOLD_MS = 30_000;

/**
 * Keeps one relayed executor (guest-job-relay.ts) in every running worker guest of this node
 * whose image carries one (core/jobs/relay-plan.ts), restarting it when it ends and stopping it
 * when its instance stops running. Resolves `done` once `signal` aborted and every relay ended.
 */
export function keepJobRelays(options: JobRelaysOptions): { done: Promise<void> } {
  const active = new Map<string, { abort: AbortController; ended: Promise<void> }>();
  let without = new Set<string>();
  /** Executors stopped for a lowering (drain, pause, snapshot), until when (epoch ms). */
  const held = new Map<string, number>();
  const tick = async () => {
    const vms = await options.runtime.list();
    const view = vms.map((vm) => ({ key: vm.key, role: vm.spec.role, status: vm.status }));
    without = stillWithoutExecutor(view, without);
    for (const [key, until] of held) {
      const running = view.some((vm) => vm.key === key && vm.status === 'running');
      if (!running || until <= Date.now()) held.delete(key);
    }
    const plan = planRelays(view, new Set(active.keys()), new Set([...without, ...held.keys()]));
    for (const key of plan.stop) active.get(key)?.abort.abort();
    for (const key of plan.start) {
      const vm = vms.find((v) => v.key === key);
      if (vm) active.set(key, startRelay(vm));
    }
  };
  const startRelay = (vm: VmRecord) => {
    const abort = new AbortController();
    const ended = relayLoop(options, vm, abort.signal, () => without.add(vm.key)).finally(() =>
      active.delete(vm.key),
    );
    return { abort, ended };
  };
  // The guest's drain counts the executor's session as work: it goes first, and stays away
  // until the VM has left running (its job's lease runs out; the journal resumes it later).
  const removeHook = options.runtime.beforeLowering?.(async (key) => {
    held.set(key, Date.now() + HOLD_MS);
    const relay = active.get(key);
    relay?.abort.abort();
    await relay?.ended;
  });
  const done = (async () => {
    while (!options.signal.aborted) {
      await tick().catch((error: unknown) =>
        options.logger.warn({ err: error }, 'job relays: could not list the worker guests'),
      );
      await delay(options.everyMs ?? 2_000, options.signal);
    }
    removeHook?.();
    for (const relay of active.values()) relay.abort.abort();
    await Promise.all([...active.values()].map((r) => r.ended));
  })();
  return { done };
}

async function relayLoop(
  options: JobRelaysOptions,
  vm: VmRecord,
  signal: AbortSignal,
  noExecutor: () => void,
): Promise<void> {
  const ref = { tenantId: vm.tenantId, poolId: vm.poolId, instanceId: vm.instanceId };
  const relay = new GuestJobRelay({
    api: options.api,
    guest: { exec: (request, execOptions) => options.runtime.exec(ref, request, execOptions) },
    worker: { nodeId: options.nodeId, ...ref },
    logger: options.logger,
    ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
  });
  while (!signal.aborted) {
    const exit = await relay.run(signal).catch((error: unknown) => {
      options.logger.warn({ err: error, instance: vm.key }, 'job executor session failed');
      return undefined;
    });
    if (exit?.code === NOT_FOUND) {
      noExecutor();
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

import { planBrokers } from '../../core/worker-exec/broker-plan.ts';
import type { WorkerExecQuery } from '../../contract/worker-exec.ts';
import type { Logger } from '../../ports/logger.ts';
import type { InstanceKey } from '../../ports/store.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { WebSocket } from 'ws';
import { WorkerBrokerRelay } from './worker-broker-relay.ts';

export interface WorkerBrokersOptions {
  runtime: Pick<InstanceRuntime, 'list' | 'exec'> &
    Partial<Pick<InstanceRuntime, 'beforeLowering'>>;
  /** The coordinator's workerExec socket for a gateway (open-worker-session.ts). */
  open: (gateway: InstanceKey, query: WorkerExecQuery) => Promise<WebSocket>;
  logger: Logger;
  signal: AbortSignal;
  /** How often the running gateway guests are looked at (default 2 s). */
  everyMs?: number;
}

const NOT_FOUND = 127;
const RESTART_MS = 2_000;
const RETRY_FAILED_MS = 10_000;
/** A broker stopped for a lowering stays away this long while its VM still runs. */
const HOLD_MS = 30_000;

/**
 * Keeps one relayed `mvm-worker broker` (worker-broker-relay.ts) in every running gateway guest
 * of this node, as keep-job-relays.ts keeps executors in workers: restarted when it ends,
 * stopped when its instance leaves running and before its guest is drained (the drain counts
 * an exec session as work), skipped for an image without it. Resolves `done` after `signal`.
 */
export function keepWorkerBrokers(options: WorkerBrokersOptions): { done: Promise<void> } {
  const active = new Map<string, { abort: AbortController; ended: Promise<void> }>();
  const without = new Set<string>();
  const held = new Map<string, number>();
  const tick = async () => {
    const vms = await options.runtime.list();
    const running = new Set(vms.filter((vm) => vm.status === 'running').map((vm) => vm.key));
    for (const key of without) if (!running.has(key)) without.delete(key);
    for (const [key, until] of held) if (!running.has(key) || until <= Date.now()) held.delete(key);
    const view = vms.map((vm) => ({ key: vm.key, role: vm.spec.role, status: vm.status }));
    const plan = planBrokers(view, new Set(active.keys()), new Set([...without, ...held.keys()]));
    for (const key of plan.stop) active.get(key)?.abort.abort();
    for (const key of plan.start) {
      const vm = vms.find((v) => v.key === key);
      if (vm) active.set(key, start(vm));
    }
  };
  const start = (vm: VmRecord) => {
    const abort = new AbortController();
    const ended = brokerLoop(options, vm, abort.signal, () => without.add(vm.key)).finally(() =>
      active.delete(vm.key),
    );
    return { abort, ended };
  };
  const removeHook = options.runtime.beforeLowering?.(async (key) => {
    held.set(key, Date.now() + HOLD_MS);
    const broker = active.get(key);
    broker?.abort.abort();
    await broker?.ended;
  });
  const done = (async () => {
    while (!options.signal.aborted) {
      await tick().catch((error: unknown) =>
        options.logger.warn({ err: error }, 'worker brokers: could not list the gateway guests'),
      );
      await delay(options.everyMs ?? 2_000, options.signal);
    }
    removeHook?.();
    for (const broker of active.values()) broker.abort.abort();
    await Promise.all([...active.values()].map((b) => b.ended));
  })();
  return { done };
}

async function brokerLoop(
  options: WorkerBrokersOptions,
  vm: VmRecord,
  signal: AbortSignal,
  noBroker: () => void,
): Promise<void> {
  const gateway = { tenantId: vm.tenantId, poolId: vm.poolId, instanceId: vm.instanceId };
  const relay = new WorkerBrokerRelay({
    gateway,
    guest: { exec: (request, execOptions) => options.runtime.exec(gateway, request, execOptions) },
    open: (query) => options.open(gateway, query),
    logger: options.logger,
  });
  while (!signal.aborted) {
    const exit = await relay.run(signal).catch((error: unknown) => {
      options.logger.warn({ err: error, instance: vm.key }, 'worker broker session failed');
      return undefined;
    });
    if (exit?.code === NOT_FOUND) {
      options.logger.info({ instance: vm.key }, 'gateway image has no mvm-worker broker');
      noBroker();
      return;
    }
    await delay(exit === undefined ? RETRY_FAILED_MS : RESTART_MS, signal);
  }
}

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

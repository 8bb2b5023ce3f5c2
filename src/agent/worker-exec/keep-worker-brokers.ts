import type { WorkerExecQuery } from '../../contract/worker-exec.ts';
import type { Logger } from '../../ports/logger.ts';
import type { InstanceKey } from '../../ports/store.ts';
import { keepGuestSessions } from '../guest-sessions/keep-guest-sessions.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';
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

/**
 * Keeps one relayed `mvm-worker broker` (worker-broker-relay.ts) in every running gateway guest
 * of this node, as the job executor is kept in workers (guest-sessions/keep-guest-sessions.ts):
 * restarted when it ends, stopped when its instance leaves running and before its guest is
 * drained, skipped for an image without it. Resolves `done` after `signal`.
 */
export function keepWorkerBrokers(options: WorkerBrokersOptions): { done: Promise<void> } {
  return keepGuestSessions({
    runtime: options.runtime,
    role: 'gateway',
    what: 'worker broker',
    logger: options.logger,
    signal: options.signal,
    ...(options.everyMs !== undefined ? { everyMs: options.everyMs } : {}),
    session: (vm) => {
      const gateway = { tenantId: vm.tenantId, poolId: vm.poolId, instanceId: vm.instanceId };
      return new WorkerBrokerRelay({
        gateway,
        guest: {
          exec: (request, execOptions) => options.runtime.exec(gateway, request, execOptions),
        },
        open: (query) => options.open(gateway, query),
        logger: options.logger,
      });
    },
  });
}

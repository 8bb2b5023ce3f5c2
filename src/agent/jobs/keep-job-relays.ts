import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { Logger } from '../../ports/logger.ts';
import { keepGuestSessions } from '../guest-sessions/keep-guest-sessions.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';
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

/**
 * Keeps one relayed executor (guest-job-relay.ts) in every running worker guest of this node
 * whose image carries one (core/jobs/relay-plan.ts, guest-sessions/keep-guest-sessions.ts):
 * restarted when it ends, stopped when its instance stops running and before its guest is
 * drained (its job's lease then runs out; the journal resumes it later). Resolves `done` once
 * `signal` aborted and every relay ended.
 */
export function keepJobRelays(options: JobRelaysOptions): { done: Promise<void> } {
  return keepGuestSessions({
    runtime: options.runtime,
    role: 'worker',
    what: 'job executor',
    logger: options.logger,
    signal: options.signal,
    ...(options.everyMs !== undefined ? { everyMs: options.everyMs } : {}),
    session: (vm) => {
      const ref = { tenantId: vm.tenantId, poolId: vm.poolId, instanceId: vm.instanceId };
      return new GuestJobRelay({
        api: options.api,
        guest: { exec: (request, execOptions) => options.runtime.exec(ref, request, execOptions) },
        worker: { nodeId: options.nodeId, ...ref },
        logger: options.logger,
        ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
      });
    },
  });
}

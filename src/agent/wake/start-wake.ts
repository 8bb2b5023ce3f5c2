import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import { WakeTrapDriver } from '../../drivers/linux-net/wake-trap-driver.ts';
import type { Logger } from '../../ports/logger.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { BuiltRuntime } from '../build-runtime.ts';
import { refOf } from '../reconcile/document-instances.ts';
import { WakeService, type ConnectWake } from './wake-service.ts';

/** Beyond the wake itself, how long a held connection waits for the service to answer. */
const SERVICE_ANSWER_MS = 10_000;

/**
 * Starts the node's wake on connect when it has tenant networking in its own namespace (the
 * holding listeners must live where the trap redirects to), hands it to the runtime, and
 * re-arms what an earlier process left lowered. Undefined when it cannot run here: then
 * instances with service ports are never lowered (and the heartbeats say so).
 */
export async function startWake(
  built: BuiltRuntime,
  options: {
    runner: ProcessRunner;
    logger: Logger;
    netns: string | undefined;
    coordinator: { api: ApiClient; nodeId: string } | undefined;
  },
): Promise<WakeService | undefined> {
  const { deps, runtime } = built;
  if (!deps.network || options.netns !== undefined) return undefined;
  const coordinator = options.coordinator;
  const service = new WakeService({
    driver: new WakeTrapDriver(options.runner),
    wake: (record) => runtime.act(refOf(record), 'wake'),
    records: () => runtime.list(),
    holdMs: deps.timeouts.wakeReadyMs + SERVICE_ANSWER_MS,
    clock: deps.clock,
    logger: options.logger,
    ...(coordinator
      ? { report: (record, wake) => reportWake(coordinator, refOf(record), wake) }
      : {}),
  });
  deps.wake = service;
  const rearmed = await service.recover(await runtime.list());
  if (rearmed.length > 0) options.logger.info({ rearmed }, 'wake traps re-armed after restart');
  return service;
}

async function reportWake(
  coordinator: { api: ApiClient; nodeId: string },
  ref: { tenantId: string; poolId: string; instanceId: string },
  wake: ConnectWake,
): Promise<void> {
  await coordinator.api.call('reportInstanceWake', {
    params: {
      node: coordinator.nodeId,
      tenant: ref.tenantId,
      pool: ref.poolId,
      instance: ref.instanceId,
    },
    body: { trigger: wake.kind, port: wake.port, from: wake.from, source: wake.source },
  });
}

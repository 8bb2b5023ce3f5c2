import type { NodeCapacity } from '../../core/model.ts';
import type { Logger } from '../../ports/logger.ts';
import type { AgentConfig } from '../agent-config.ts';
import type { BuiltRuntime } from '../build-runtime.ts';
import type { CoordinatorConnection } from '../coordinator-link.ts';
import { measureHost } from '../join/host-facts.ts';
import { WakeAdmitter } from './wake-admitter.ts';

/**
 * The agent's wake admitter (wake-admitter.ts): its local count of room uses the capacity its
 * heartbeats declare (the embedder's, else the host's measured, with `vcpus` overriding the
 * count), measured once; the fallback follows `agent.wakeWithoutCoordinator`.
 */
export function wakeAdmitter(
  coordinator: Pick<CoordinatorConnection, 'api' | 'nodeId' | 'settings'>,
  built: Pick<BuiltRuntime, 'runtime' | 'deps'>,
  config: Pick<AgentConfig, 'dataDir' | 'wakeWithoutCoordinator'>,
  declared: NodeCapacity | undefined,
  logger: Logger,
): WakeAdmitter {
  let capacity: Promise<NodeCapacity> | undefined;
  const measured = async (): Promise<NodeCapacity> => {
    const host = (await measureHost(config.dataDir)).capacity;
    const vcpus = coordinator.settings.vcpus;
    return vcpus === undefined ? host : { ...host, vcpus };
  };
  const metrics = built.deps.metrics;
  return new WakeAdmitter({
    coordinator: { api: coordinator.api, nodeId: coordinator.nodeId },
    fallback: config.wakeWithoutCoordinator,
    capacity: () => (capacity ??= declared ? Promise.resolve(declared) : measured()),
    records: () => built.runtime.list(),
    logger,
    ...(metrics ? { count: (trigger, admission) => metrics.admission(trigger, admission) } : {}),
  });
}

import type { NodeCapacity } from '../../core/model.ts';
import type { Logger } from '../../ports/logger.ts';
import type { AgentConfig } from '../agent-config.ts';
import type { BuiltRuntime } from '../build-runtime.ts';
import type { CoordinatorConnection } from '../coordinator-link.ts';
import { measureHost } from '../join/host-facts.ts';
import { unreportedWakesFile, unreportedWakesPath } from './unreported-wakes-file.ts';
import { WakeAdmitter } from './wake-admitter.ts';

/**
 * The agent's wake admitter (wake-admitter.ts): its local count of room uses the capacity its
 * heartbeats declare (the embedder's, else the host's measured, with `vcpus` overriding the
 * count), measured once; the fallback follows `agent.wakeWithoutCoordinator`. The wakes it
 * admits itself are kept in the data dir until reported (unreported-wakes-file.ts); those an
 * earlier run left are taken back and reported again before it answers.
 */
export async function wakeAdmitter(
  coordinator: Pick<CoordinatorConnection, 'api' | 'nodeId' | 'settings'>,
  built: Pick<BuiltRuntime, 'runtime' | 'deps'>,
  config: Pick<AgentConfig, 'dataDir' | 'wakeWithoutCoordinator'>,
  declared: NodeCapacity | undefined,
  logger: Logger,
): Promise<WakeAdmitter> {
  let capacity: Promise<NodeCapacity> | undefined;
  const measured = async (): Promise<NodeCapacity> => {
    const host = (await measureHost(config.dataDir)).capacity;
    const vcpus = coordinator.settings.vcpus;
    return vcpus === undefined ? host : { ...host, vcpus };
  };
  const metrics = built.deps.metrics;
  const admitter = new WakeAdmitter({
    coordinator: { api: coordinator.api, nodeId: coordinator.nodeId },
    fallback: config.wakeWithoutCoordinator,
    capacity: () => (capacity ??= declared ? Promise.resolve(declared) : measured()),
    records: () => built.runtime.list(),
    logger,
    ...(metrics ? { count: (trigger, admission) => metrics.admission(trigger, admission) } : {}),
    journal: unreportedWakesFile(unreportedWakesPath(config.dataDir), logger),
  });
  await admitter.restore();
  return admitter;
}

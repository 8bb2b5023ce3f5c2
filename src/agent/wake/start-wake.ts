import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import { WakeTrapDriver } from '../../drivers/linux-net/wake-trap-driver.ts';
import type { Logger } from '../../ports/logger.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { BuiltRuntime } from '../build-runtime.ts';
import type { NetnsDialer } from '../netns-dial/netns-dialer.ts';
import { netnsListener } from '../netns-dial/netns-listener.ts';
import { refOf } from '../reconcile/document-instances.ts';
import { askToWake } from './wake-admission.ts';
import { WakeService } from './wake-service.ts';
import type { WakeAdmitter } from './wake-admitter.ts';

/** Beyond the wake itself, how long a held connection waits for the service to answer. */
const SERVICE_ANSWER_MS = 10_000;

/**
 * Starts the node's wake on connect when it has tenant networking, hands it to the runtime,
 * and re-arms what an earlier process left lowered. The trap and its holding listeners live
 * where the tenant bridges are: this process's namespace, or with `agent.netns` that one
 * (nft and ip run there; the listeners' sockets are bound there by a helper and handed over,
 * netns-listener.ts; the woken guest is dialed through the namespace's dialer). Undefined
 * without tenant networking: then instances with service ports are never lowered (and the
 * heartbeats say so).
 */
export async function startWake(
  built: BuiltRuntime,
  options: {
    runner: ProcessRunner;
    logger: Logger;
    netns: string | undefined;
    /** With `netns`: the namespace's dialer (shared with the published ports). */
    dialer?: NetnsDialer;
    coordinator: { api: ApiClient; nodeId: string } | undefined;
    /** Decides wakes (with the node-local fallback); default: the coordinator alone. */
    admitter?: WakeAdmitter;
  },
): Promise<WakeHandle | undefined> {
  const { deps, runtime } = built;
  if (!deps.network) return undefined;
  const { netns, dialer } = options;
  if (netns !== undefined && !dialer) return undefined;
  const listener =
    netns === undefined ? undefined : netnsListener({ netns, logger: options.logger });
  const { coordinator, admitter } = options;
  const service = new WakeService({
    driver: new WakeTrapDriver(options.runner, netns),
    ...(listener && dialer ? { within: { listen: listener.listen, dial: dialer.dial } } : {}),
    wake: (record) => runtime.act(refOf(record), 'wake'),
    records: () => runtime.list(),
    holdMs: deps.timeouts.wakeReadyMs + SERVICE_ANSWER_MS,
    clock: deps.clock,
    logger: options.logger,
    ...(admitter
      ? { admit: (record, wake) => admitter.admit(record, wake, 'trap') }
      : coordinator
        ? { admit: (record, wake) => askToWake(coordinator, refOf(record), wake) }
        : {}),
  });
  deps.wake = service;
  const close = async (): Promise<void> => {
    service.close();
    await listener?.close();
  };
  try {
    const rearmed = await service.recover(await runtime.list());
    if (rearmed.length > 0) options.logger.info({ rearmed }, 'wake traps re-armed after restart');
  } catch (error) {
    await close();
    throw error;
  }
  return { service, close };
}

export interface WakeHandle {
  service: WakeService;
  close(): Promise<void>;
}

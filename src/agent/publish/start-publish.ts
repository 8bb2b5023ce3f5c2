import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import { errorMessage } from '../../core/errors.ts';
import { DEFAULT_PUBLISH_ADDRESS } from '../../core/published-ports.ts';
import type { Logger } from '../../ports/logger.ts';
import type { BuiltRuntime } from '../build-runtime.ts';
import { refOf } from '../reconcile/document-instances.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { WakeTrigger } from '../wake/holding-listener.ts';
import { PublishProxy } from './publish-proxy.ts';
import { askToWake } from '../wake/wake-admission.ts';
import { WakeAdmitter } from '../wake/wake-admitter.ts';
import { startNetnsDialer, type NetnsDialer } from '../netns-dial/netns-dialer.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';

/** How often the listeners follow the records (a new pool, a changed list, the last instance gone). */
const SYNC_MS = 1_000;
/** Beyond the wake itself, how long a held connection waits for the service to answer. */
const SERVICE_ANSWER_MS = 10_000;

export interface PublishHandle {
  proxy: PublishProxy;
  close(): Promise<void>;
}

/**
 * Starts the node's published ports: listeners on this host's address, each connection carried
 * to a guest of the tenant network (from this process, or through a dialer inside the agent's
 * network namespace, `agent.netns`); a lowered instance is woken only once the coordinator
 * admits it (room on this node, agent/wake/wake-admission.ts); hands the proxy to the runtime (an instance a connection
 * woke stays up until its document catches up), and keeps the listeners following the
 * records. Undefined without tenant networking.
 */
export async function startPublish(
  built: BuiltRuntime,
  options: {
    logger: Logger;
    netns: string | undefined;
    address: string | undefined;
    coordinator: { api: ApiClient; nodeId: string } | undefined;
    runner: ProcessRunner;
    dataDir: string;
    /** The namespace's dialer when the caller runs one already (`netns`). */
    dialer?: NetnsDialer;
    /** Decides wakes (with the node-local fallback); default: the coordinator alone. */
    admitter?: WakeAdmitter;
  },
): Promise<PublishHandle | undefined> {
  const { deps, runtime } = built;
  if (!deps.network) return undefined;
  const { logger, coordinator } = options;
  // A dialer the caller shares stays the caller's to close.
  const own = options.dialer === undefined;
  const dialer =
    options.dialer ??
    (options.netns === undefined
      ? undefined
      : await startNetnsDialer({
          netns: options.netns,
          dataDir: options.dataDir,
          runner: options.runner,
          clock: deps.clock,
          logger,
        }));
  const proxy = new PublishProxy({
    ...(dialer ? { dial: dialer.dial } : {}),
    host: options.address ?? DEFAULT_PUBLISH_ADDRESS,
    records: () => runtime.list(),
    wake: async (record, trigger) => {
      // The coordinator raises it first, only with room on this node; else nothing wakes.
      await admitted(options.admitter ?? coordinator, record, trigger, logger);
      const woken = await runtime.act(refOf(record), 'wake');
      logger.info({ key: record.key, ...trigger }, 'instance woken by a published connection');
      return woken;
    },
    holdMs: deps.timeouts.wakeReadyMs + SERVICE_ANSWER_MS,
    clock: deps.clock,
    logger,
  });
  deps.publish = proxy;
  let pass: Promise<void> | undefined;
  const sync = (): void => {
    pass ??= proxy
      .sync()
      .catch((error: unknown) =>
        logger.warn({ err: errorMessage(error) }, 'published ports not synced'),
      )
      .finally(() => (pass = undefined));
  };
  sync();
  const timer = setInterval(sync, SYNC_MS);
  timer.unref();
  return {
    proxy,
    close: async () => {
      clearInterval(timer);
      await pass;
      proxy.close();
      if (own) await dialer?.close();
    },
  };
}

/**
 * Asks the coordinator before a published connection wakes the instance (the wake report:
 * it raises the desired status and audits the wake, only with room on this node); throws
 * the reason when the wake is not admitted, so the held connections are reset with it.
 */
async function admitted(
  by: WakeAdmitter | { api: ApiClient; nodeId: string } | undefined,
  record: VmRecord,
  trigger: WakeTrigger,
  logger: Logger,
): Promise<void> {
  if (!by) return;
  const ask = { port: trigger.port, from: addressOf(trigger.from), source: 'node' as const };
  const admission =
    by instanceof WakeAdmitter
      ? await by.admit(record, ask, 'publish')
      : await askToWake(by, refOf(record), ask);
  if (admission.admitted) return;
  logger.warn({ key: record.key, ...trigger, reason: admission.reason }, 'wake not admitted');
  throw new Error(admission.reason);
}

/** The wake report names an address; an IPv4-mapped one is given as IPv4. */
function addressOf(from: string): string {
  const address = from.startsWith('::ffff:') ? from.slice(7) : from;
  return address === '' ? '127.0.0.1' : address;
}

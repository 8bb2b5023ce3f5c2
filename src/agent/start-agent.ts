/**
 * The host agent's one composition root: from its config, the instance runtime (VMM, drives,
 * cgroups, tenant network, local SQLite) after recovery, the local API on its unix socket, and
 * the link to the coordinator (heartbeats, signed-document loop). `mvm agent serve`, the
 * quickstart, `mvm agent reconcile`, src/agent/main.ts and the benchmarks all start it here.
 */
import pino from 'pino';
import type { SeedDocument } from '../contract/desired.ts';
import { randomSuffix } from '../coordinator/random-suffix.ts';
import { NodeProcessRunner } from '../drivers/process/node-process-runner.ts';
import type { AgentConfig } from './agent-config.ts';
import { buildRuntime } from './build-runtime.ts';
import type { BuiltRuntime, RuntimeSeams } from './build-runtime.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../ports/logger.ts';
import { requestLogger } from '../drivers/request-context.ts';
import { connectCoordinator, startLink } from './coordinator-link.ts';
import type { CoordinatorLink, LinkOptions } from './coordinator-link.ts';
import { NodeIdentityStore } from './join/node-identity.ts';
import { serveLocalApi } from './local-api-server.ts';
import { serveMetrics } from './metrics/metrics-server.ts';
import { applySeed } from './reconcile/apply-seed.ts';
import type { ReconcileStep } from './reconcile/reconcile-document.ts';
import type { RecoveryReport } from './recover.ts';
import type { RuntimeDeps } from './runtime/deps.ts';
import type { InstanceRuntime } from './runtime/instance-runtime.ts';
import { coordinatorSecrets } from './runtime/secret-source.ts';
import { startPublish } from './publish/start-publish.ts';
import { DEFAULT_PUBLISH_ADDRESS } from '../core/published-ports.ts';
import { startWake } from './wake/start-wake.ts';
import { wakeAdmitter } from './wake/node-wake-admitter.ts';
import { startNetnsDialer } from './netns-dial/netns-dialer.ts';
import { takeOverFence } from './lease/fence-keeper.ts';
import { BaseCollector, collectIdleBases } from './clones/base-collector.ts';

export type { AgentConfig } from './agent-config.ts';
export type { CoordinatorLink } from './coordinator-link.ts';
export type { ReconcileStep } from './reconcile/reconcile-document.ts';

export interface StartAgentOptions extends RuntimeSeams, LinkOptions {
  /**
   * `serve` (default): the local API, and the coordinator link when a node id is configured or
   * the host joined. `runtime`: the runtime after recovery only (no socket, no coordinator).
   */
  mode?: 'serve' | 'runtime';
}

export interface AgentHandle {
  config: Readonly<AgentConfig>;
  runtime: InstanceRuntime;
  /** What the runtime acts through (tests and benchmarks look at the drivers). */
  deps: RuntimeDeps;
  recovery: RecoveryReport;
  /** The local API's socket; undefined in `runtime` mode. */
  socket: string | undefined;
  /** Where GET /metrics is served over HTTP (`agent.metricsListen`), as bound. */
  metricsAddress: string | undefined;
  /** The VXLAN source in use: configured, else the one recorded when the host joined. */
  underlayIp: string | undefined;
  /** Present when following a coordinator. */
  link: CoordinatorLink | undefined;
  /** Converges once on a seed document, without a coordinator. */
  applySeed(
    seed: SeedDocument,
    options: { nodeId: string; onStep?: (step: ReconcileStep) => void },
  ): Promise<ReconcileStep[]>;
  /** Stops the link, the socket and the runtime's files; VMs keep running (a restart adopts them). */
  close(): Promise<void>;
}

export async function startAgent(
  config: Readonly<AgentConfig>,
  options: StartAgentOptions = {},
): Promise<AgentHandle> {
  // Lines written for an instance's work carry the id of the request behind it.
  const logger = requestLogger(options.logger ?? pino({ name: 'mvm-agent' }, pino.destination(2)));
  const runner = new NodeProcessRunner({ logger });
  const serving = options.mode !== 'runtime';
  const coordinator = serving
    ? await connectCoordinator(config.coordinator, config.dataDir, runner)
    : undefined;
  const underlayIp = config.underlayIp ?? (await joinedUnderlayIp(config.dataDir));
  // Before recovery: a watchdog the previous agent left must not pause what recovery adopts.
  const fence =
    coordinator && config.fenceWatchdog ? await takeOverFence(config.dataDir, logger) : undefined;
  const built = await buildRuntime(config, {
    ...options,
    logger,
    runner,
    ...(underlayIp !== undefined ? { underlayIp } : {}),
    // Secret values come over the agent's own link, only when an instance starts or wakes.
    ...(coordinator ? { secrets: coordinatorSecrets(coordinator.api, coordinator.nodeId) } : {}),
    // Built revisions' artifacts come the same way, fetched when an instance first needs them.
    ...(coordinator && !options.coordinator
      ? { coordinator: { api: coordinator.api, nodeId: coordinator.nodeId } }
      : {}),
  });
  const closers: Array<() => Promise<void>> = [built.close];
  // Every step runs even when an earlier one fails, so nothing is left running behind an error.
  const close = async (): Promise<void> => {
    const failures: unknown[] = [];
    for (const step of closers.splice(0).reverse())
      await step().catch((e: unknown) => failures.push(e));
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, 'the agent did not close cleanly');
  };
  try {
    if (serving) closers.push(await serveLocalApi(config.socket, built.runtime, built.deps));
    if (serving) closers.push(watchVmmExits(built, logger));
    // Pool bases no instance of their pool revision used for the grace period go on their own.
    if (serving && built.deps.clones) {
      const collector = new BaseCollector(built.runtime, built.deps, {
        graceMs: config.baseGraceMs,
      });
      const everyMs = Math.min(60_000, Math.max(1_000, Math.floor(config.baseGraceMs / 4)));
      closers.push(collectIdleBases(collector, built.deps, everyMs));
    }
    // With `agent.netns`, one dialer inside the namespace serves the wake trap and the ports.
    const dialer =
      serving && built.deps.network && config.netns !== undefined
        ? await startNetnsDialer({
            netns: config.netns,
            dataDir: config.dataDir,
            runner,
            clock: built.deps.clock,
            logger,
          })
        : undefined;
    if (dialer) closers.push(dialer.close);
    const admitter = coordinator
      ? await wakeAdmitter(coordinator, built, config, options.capacity, logger)
      : undefined;
    if (admitter) {
      built.deps.localWakes = admitter;
      closers.push(() => Promise.resolve(admitter.close()));
    }
    const wake = serving
      ? await startWake(built, {
          runner,
          logger,
          netns: config.netns,
          ...(dialer ? { dialer } : {}),
          coordinator,
          ...(admitter ? { admitter } : {}),
        })
      : undefined;
    if (wake) closers.push(wake.close);
    const publish = serving
      ? await startPublish(built, {
          logger,
          netns: config.netns,
          ...(dialer ? { dialer } : {}),
          address: config.publishAddress,
          coordinator,
          runner,
          dataDir: config.dataDir,
          ...(admitter ? { admitter } : {}),
        })
      : undefined;
    if (publish) closers.push(publish.close);
    const metricsServer =
      serving && config.metricsListen && built.deps.metrics
        ? await serveMetrics(built.deps.metrics, config.metricsListen)
        : undefined;
    if (metricsServer) closers.push(metricsServer.close);
    const link = coordinator
      ? startLink(
          coordinator,
          {
            dataDir: config.dataDir,
            underlayIp,
            publishAddress: publish
              ? (config.publishAddress ?? DEFAULT_PUBLISH_ADDRESS)
              : undefined,
            ...built,
            ...(fence ? { onLease: fence.onLease } : {}),
          },
          options,
        )
      : undefined;
    if (link) closers.push(link.stop);
    await fence?.startWatchdog(built.deps.cgroups);
    logger.info({ socket: serving ? config.socket : null, recovery: built.recovery }, 'agent up');
    return {
      config,
      runtime: built.runtime,
      deps: built.deps,
      recovery: built.recovery,
      socket: serving ? config.socket : undefined,
      metricsAddress: metricsServer?.address,
      underlayIp,
      link: link?.link,
      applySeed: (seed, seedOptions) =>
        applySeed({
          seed,
          runtime: built.runtime,
          nodeId: seedOptions.nodeId,
          now: new Date(),
          randomSuffix: () => randomSuffix(),
          logger,
          ...(seedOptions.onStep ? { onStep: seedOptions.onStep } : {}),
        }),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Periodically fails instances whose VMM died (see runtime/vmm-exits.ts); returns its stop. */
function watchVmmExits(built: BuiltRuntime, logger: Logger): () => Promise<void> {
  let running: Promise<void> | undefined;
  const check = async (): Promise<void> => {
    await built.runtime.failExited().catch((error: unknown) => {
      logger.warn({ error: errorMessage(error) }, 'checking for dead VMMs failed');
    });
  };
  const timer = setInterval(() => {
    running ??= check().finally(() => (running = undefined));
  }, built.deps.timeouts.exitCheckMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

/** The underlay address recorded when this host joined, if it did and one was known. */
async function joinedUnderlayIp(dataDir: string): Promise<string | undefined> {
  const identity = await new NodeIdentityStore(dataDir).load().catch(() => undefined);
  return identity?.underlayIp;
}

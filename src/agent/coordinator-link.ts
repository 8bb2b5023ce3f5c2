import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../core/errors.ts';
import type { NodeCapacity } from '../core/model.ts';
import { HostActivityProbe } from '../drivers/activity/host-activity-probe.ts';
import { systemClock } from '../drivers/clock/system-clock.ts';
import { createApiClient } from '../drivers/coordinator-api/api-client.ts';
import type { ApiClient, FetchLike } from '../drivers/coordinator-api/api-client.ts';
import type { ActivityProbe } from '../ports/activity-probe.ts';
import type { HeartbeatResult } from '../contract/heartbeat.ts';
import type { ProcessRunner } from '../ports/process-runner.ts';
import { ActivityTracker } from './activity/activity-tracker.ts';
import type { CoordinatorSettings } from './agent-config.ts';
import { DesiredFileStore } from './desired/desired-file-store.ts';
import { DesiredMarkFile } from './desired/desired-mark-file.ts';
import { collectNodeDisk } from './disk/disk-report.ts';
import { sendHeartbeats } from './heartbeat/send-heartbeats.ts';
import { NodeIdentityStore } from './join/node-identity.ts';
import { NodeSession } from './join/node-session.ts';
import { keepJobRelays } from './jobs/keep-job-relays.ts';
import { keepMoving, MoveWorker } from './move/move-worker.ts';
import { keepWorkerBrokers } from './worker-exec/keep-worker-brokers.ts';
import { openWorkerSocket } from './worker-exec/open-worker-session.ts';
import { NodeLease } from './lease/node-lease.ts';
import { runAgentLoop } from './reconcile/agent-loop.ts';
import { keepTunnel, type TunnelAuth, type TunnelState } from './tunnel/tunnel-client.ts';
import { coordinatorReporter } from './reconcile/coordinator-reporter.ts';
import type { CoordinatorReporter } from './reconcile/coordinator-reporter.ts';
import { fetchVerifiedDocument } from './reconcile/fetch-document.ts';
import { reconcileDocument } from './reconcile/reconcile-document.ts';
import type { ReconcileStep } from './reconcile/reconcile-document.ts';
import type { RuntimeDeps } from './runtime/deps.ts';
import type { InstanceRuntime } from './runtime/instance-runtime.ts';

/** This agent following its coordinator: heartbeats from the start, the document loop on follow(). */
export interface CoordinatorLink {
  readonly nodeId: string;
  readonly baseUrl: string;
  /** True for a joined host (node certificate); false for a development token. */
  readonly mtls: boolean;
  /** The agent's tunnel to the coordinator, over which sessions into its guests come. */
  readonly tunnel: TunnelState;
  /** One pass on the coordinator's current signed document, fetched and verified now. */
  convergeOnce(onStep?: (step: ReconcileStep) => void): Promise<ReconcileStep[]>;
  /** Starts the watch-and-reconcile loop (idempotent); stopped by the agent's close(). */
  follow(): void;
}

/** What the embedding process decides about the link (the quickstart registers its node itself). */
export interface LinkOptions {
  /** Capacity to declare instead of the host's own (an overcommit); default: measured. */
  capacity?: NodeCapacity;
  /** Start the document loop at once (default) or only when follow() is called. */
  follow?: boolean;
  /** Replaces the host's activity counters (tests). */
  activity?: ActivityProbe;
}

/** Who this agent is to its coordinator and which signing keys it trusts; nothing runs yet. */
export interface CoordinatorConnection {
  settings: CoordinatorSettings;
  api: ApiClient;
  nodeId: string;
  session?: NodeSession;
  keys: string[];
}

/** What the link acts on: the runtime built after connecting. */
interface LinkParts {
  dataDir: string;
  underlayIp: string | undefined;
  /** Where published ports listen, when this agent runs them (reported with heartbeats). */
  publishAddress?: string | undefined;
  runtime: InstanceRuntime;
  deps: RuntimeDeps;
  /** Told the lease's end at the start and on every renewal (the fence watchdog's file). */
  onLease?: (expiresAt: number) => void;
}

/**
 * A joined host (`mvm add host`) talks mTLS with its node certificate unless a node id and a
 * token are configured (development); a host that did neither has no coordinator: undefined.
 */
async function identify(
  settings: CoordinatorSettings,
  dataDir: string,
  runner: ProcessRunner,
): Promise<Omit<CoordinatorConnection, 'keys' | 'settings'> | undefined> {
  // Not joined: no identity. A damaged one is an error to see, not a reason to run unlinked.
  const joined = (await new NodeIdentityStore(dataDir).load()) !== undefined;
  const session = joined ? await NodeSession.open(dataDir, runner) : undefined;
  if (session && (settings.nodeId === undefined || settings.token === undefined)) {
    const api = client(session.baseUrl, undefined, session.fetch);
    return { api, nodeId: session.nodeId, session };
  }
  if (settings.production) {
    throw new ValidationError(
      session
        ? 'production mode speaks mTLS as the joined node: drop --node and the token'
        : "production mode needs a joined host: run 'mvm add host --production' first",
    );
  }
  if (settings.nodeId === undefined) return undefined;
  return { api: client(settings.url, settings.token), nodeId: settings.nodeId };
}

function client(baseUrl: string, token?: string, fetch?: FetchLike): ApiClient {
  return createApiClient({
    baseUrl,
    ...(token !== undefined ? { token } : {}),
    ...(fetch ? { fetch } : {}),
  });
}

async function trustedKeys(settings: CoordinatorSettings, api: ApiClient): Promise<string[]> {
  if (settings.trustedKeyFile) return [await readFile(settings.trustedKeyFile, 'utf8')];
  if (settings.production) {
    throw new ValidationError(
      'production mode needs the coordinator signing key: pass --trusted-key <pem file> (from GET /v1/signing-key)',
    );
  }
  // Dev mode trusts the key the coordinator presents on first contact.
  return [(await api.call('getSigningKey', {})).publicKeyPem];
}

/**
 * This agent's coordinator, or undefined when it has none; checked before anything is built,
 * so a production agent without a joined identity or a signing key fails before it starts.
 */
export async function connectCoordinator(
  settings: CoordinatorSettings,
  dataDir: string,
  runner: ProcessRunner,
): Promise<CoordinatorConnection | undefined> {
  const identity = await identify(settings, dataDir, runner);
  if (!identity) return undefined;
  return { ...identity, settings, keys: await trustedKeys(settings, identity.api) };
}

/**
 * Starts following the coordinator: heartbeats (capacity, usage, activity, underlay) and
 * certificate renewal now; the document loop with `follow`. The returned stop ends all of
 * them; VMs are not touched.
 */
export function startLink(
  conn: CoordinatorConnection,
  parts: LinkParts,
  options: LinkOptions = {},
): { link: CoordinatorLink; stop(): Promise<void> } {
  const { deps } = parts;
  const logger = deps.logger;
  const abort = new AbortController();
  const reporter = coordinatorReporter(conn.api, conn.nodeId, logger);
  const marks = DesiredMarkFile.open(join(parts.dataDir, 'desired-mark.json'));
  // Seen by whoever awaits it (the loop, convergeOnce); here only so it is never unhandled.
  marks.catch(() => undefined);
  const renewal = conn.session?.keepRenewed({
    clock: systemClock,
    signal: abort.signal,
    everyMs: 60_000,
    onError: (error) => logger.warn({ err: error }, 'certificate renewal failed; retrying'),
  });
  const lease = new NodeLease(systemClock);
  parts.onLease?.(lease.expiresAt());
  // Generation marks written after a beat; stop waits for them so nothing writes afterwards.
  const markWrites = new Set<Promise<void>>();
  const activity =
    options.activity ?? new HostActivityProbe(deps.cgroups ? { cgroups: deps.cgroups } : {});
  const heartbeats = sendHeartbeats({
    api: conn.api,
    nodeId: conn.nodeId,
    runtime: parts.runtime,
    dataDir: parts.dataDir,
    tracker: new ActivityTracker(activity),
    disk: (records) => collectNodeDisk(deps.layout, records),
    guest: (record) => parts.runtime.guestSample(record),
    ...(deps.wake ? { wakeOnConnect: true } : {}),
    ...(conn.settings.workerExec === true ? { workerExec: true } : {}),
    ...(parts.publishAddress !== undefined ? { publishAddress: parts.publishAddress } : {}),
    ...(options.capacity ? { capacity: options.capacity } : {}),
    ...(conn.settings.vcpus !== undefined ? { vcpus: conn.settings.vcpus } : {}),
    ...(parts.underlayIp !== undefined ? { underlayIp: parts.underlayIp } : {}),
    everyMs: conn.settings.heartbeatMs,
    tolerance: conn.settings.sampleTolerance,
    callTimeoutMs: () => lease.leaseMs,
    clock: systemClock,
    signal: abort.signal,
    logger,
    // Statuses changed upstream while we were lost (pinned instances marked failed).
    onRecovered: () => reporter.forget(),
    onBeat: (result, sentAt) => {
      const write = noteCoordinatorGeneration(marks, result.desiredGeneration, logger);
      markWrites.add(write);
      void write.finally(() => markWrites.delete(write));
      renewLease(lease, result, sentAt, conn.settings.heartbeatMs, logger);
      parts.onLease?.(lease.expiresAt());
    },
  });
  const tunnel = keepTunnel({
    baseUrl: conn.api.baseUrl,
    nodeId: conn.nodeId,
    auth: () => tunnelAuth(conn),
    guests: parts.runtime,
    clock: systemClock,
    logger,
    signal: abort.signal,
  });
  // Executors in this node's worker guests reach the coordinator only through here.
  const relays = keepJobRelays({
    api: conn.api,
    nodeId: conn.nodeId,
    runtime: parts.runtime,
    logger,
    signal: abort.signal,
  });
  // Moves this node takes part in (docs/moves.md): sleeping instances leaving or arriving.
  const mover = new MoveWorker({
    api: conn.api,
    nodeId: conn.nodeId,
    deps,
    runtime: parts.runtime,
    workDir: join(parts.dataDir, 'moves'),
    logger,
    handOverHoldMs: conn.settings.moveHoldMs,
  });
  // What it was importing before a restart stays out of the reconciler's reach.
  const incomingRestored = mover.restored();
  incomingRestored.catch(() => undefined);
  const moving = keepMoving(mover, { clock: systemClock, signal: abort.signal, logger });
  // Gateway guests' commands reach their tenant's workers only through here (docs/openclaw.md).
  const brokers = conn.settings.workerExec
    ? keepWorkerBrokers({
        runtime: parts.runtime,
        open: (gateway, query) =>
          openWorkerSocket(
            { baseUrl: conn.api.baseUrl, nodeId: conn.nodeId, auth: () => tunnelAuth(conn) },
            gateway,
            query,
          ),
        logger,
        signal: abort.signal,
      })
    : undefined;
  let loop: Promise<void> | undefined;
  const link: CoordinatorLink = {
    nodeId: conn.nodeId,
    baseUrl: conn.api.baseUrl,
    mtls: conn.session !== undefined,
    tunnel: tunnel.state,
    convergeOnce: (onStep?: (step: ReconcileStep) => void) =>
      convergeOnce(
        { ...parts, conn, reporter, marks, incoming: mover.incoming, incomingRestored },
        onStep,
      ),
    follow() {
      loop ??= followLoop(
        { ...parts, conn, reporter, marks, lease, incoming: mover.incoming, incomingRestored },
        abort.signal,
      );
    },
  };
  const stop = async (): Promise<void> => {
    abort.abort();
    await loop?.catch((error: unknown) => logger.error({ err: error }, 'agent loop ended'));
    await heartbeats;
    await Promise.all(markWrites);
    await tunnel.done;
    await relays.done;
    await moving.done;
    await brokers?.done;
    // Renewal sleeps between checks; it stops at its next wake-up and need not be awaited.
    void renewal?.catch(() => undefined);
  };
  if (options.follow !== false) link.follow();
  return { link, stop };
}

/** The node certificate when joined (read per connection: renewals apply), else the token. */
function tunnelAuth(conn: CoordinatorConnection): TunnelAuth {
  if (conn.session) return { tls: conn.session.tlsMaterial() };
  return conn.settings.token !== undefined ? { token: conn.settings.token } : {};
}

interface Linked extends LinkParts {
  conn: CoordinatorConnection;
  reporter: CoordinatorReporter;
  marks: Promise<DesiredMarkFile>;
  lease?: NodeLease;
  incoming: ReadonlySet<string>;
  /** `incoming` as a previous run left it, read back (agent/move/incoming-mark.ts). */
  incomingRestored: Promise<void>;
}

async function convergeOnce(
  linked: Linked,
  onStep?: (step: ReconcileStep) => void,
): Promise<ReconcileStep[]> {
  const { conn, deps } = linked;
  await linked.incomingRestored;
  const { document } = await fetchVerifiedDocument(conn.api, conn.nodeId, conn.keys, {
    maxAgeMs: conn.settings.maxDocumentAgeMs,
    minGeneration: (await linked.marks).current.coordinatorGeneration,
  });
  return reconcileDocument({
    document,
    runtime: linked.runtime,
    ...(deps.network ? { network: deps.network } : {}),
    reporter: linked.reporter,
    logger: deps.logger,
    incoming: linked.incoming,
    ...(onStep ? { onStep } : {}),
  });
}

async function followLoop(linked: Linked, signal: AbortSignal): Promise<void> {
  const { conn, deps } = linked;
  await linked.incomingRestored;
  return runAgentLoop({
    marks: await linked.marks,
    maxAgeMs: conn.settings.maxDocumentAgeMs,
    api: conn.api,
    nodeId: conn.nodeId,
    trustedKeys: conn.keys,
    production: conn.settings.production,
    runtime: linked.runtime,
    ...(deps.network ? { network: deps.network } : {}),
    store: new DesiredFileStore(join(linked.dataDir, 'desired.json')),
    reporter: linked.reporter,
    clock: systemClock,
    signal,
    logger: deps.logger,
    ...(linked.lease ? { lease: linked.lease } : {}),
    incoming: linked.incoming,
  });
}

/**
 * An answered heartbeat renews the lease; heartbeats too sparse to renew it twice within it
 * would pause instances at every lost packet, which is said (once per lease length).
 */
function renewLease(
  lease: NodeLease,
  result: HeartbeatResult,
  sentAt: Date,
  heartbeatMs: number,
  logger: RuntimeDeps['logger'],
): void {
  const before = lease.leaseMs;
  lease.renewed(sentAt, result.leaseMs, result.desiredGeneration);
  if (lease.leaseMs !== before && heartbeatMs * 2 > lease.leaseMs) {
    logger.warn(
      { heartbeatMs, leaseMs: lease.leaseMs },
      'heartbeats are too sparse for the coordinator lease: send them at least twice per lease',
    );
  }
}

/** The coordinator's word on the generation it issued: older documents are refused from now. */
function noteCoordinatorGeneration(
  marks: Promise<DesiredMarkFile>,
  generation: number | undefined,
  logger: RuntimeDeps['logger'],
): Promise<void> {
  if (generation === undefined) return Promise.resolve();
  return marks
    .then((file) => file.coordinatorIssued(generation))
    .catch((error: unknown) =>
      logger.warn({ err: error }, 'could not record the coordinator generation'),
    );
}

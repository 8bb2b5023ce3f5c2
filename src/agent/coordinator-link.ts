import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../core/errors.ts';
import type { NodeCapacity } from '../core/model.ts';
import { HostActivityProbe } from '../drivers/activity/host-activity-probe.ts';
import { systemClock } from '../drivers/clock/system-clock.ts';
import { createApiClient } from '../drivers/coordinator-api/api-client.ts';
import type { ApiClient, FetchLike } from '../drivers/coordinator-api/api-client.ts';
import type { ActivityProbe } from '../ports/activity-probe.ts';
import type { ProcessRunner } from '../ports/process-runner.ts';
import { ActivityTracker } from './activity/activity-tracker.ts';
import type { CoordinatorSettings } from './agent-config.ts';
import { DesiredFileStore } from './desired/desired-file-store.ts';
import { sendHeartbeats } from './heartbeat/send-heartbeats.ts';
import { NodeSession } from './join/node-session.ts';
import { runAgentLoop } from './reconcile/agent-loop.ts';
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

interface Connection {
  api: ApiClient;
  nodeId: string;
  session?: NodeSession;
}

interface LinkParts {
  settings: CoordinatorSettings;
  dataDir: string;
  underlayIp: string | undefined;
  runtime: InstanceRuntime;
  deps: RuntimeDeps;
  runner: ProcessRunner;
}

/**
 * A joined host (`mvm add host`) talks mTLS with its node certificate unless a node id and a
 * token are configured (development); a host that did neither has no coordinator: undefined.
 */
async function connect(parts: LinkParts): Promise<Connection | undefined> {
  const { settings } = parts;
  const session = await NodeSession.open(parts.dataDir, parts.runner).catch(() => undefined);
  if (session && (settings.nodeId === undefined || settings.token === undefined)) {
    const api = client(session.baseUrl, undefined, session.fetch);
    return { api, nodeId: session.nodeId, session };
  }
  if (settings.production) {
    throw new ValidationError(
      "production mode needs a joined host (run 'mvm add host --production' first) and no --node",
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
 * Links the agent to its coordinator, or resolves undefined when it has none: heartbeats
 * (capacity, usage, activity, underlay) and certificate renewal start now; the document loop
 * with `follow`. The returned stop ends all of them; VMs are not touched.
 */
export async function linkCoordinator(
  parts: LinkParts,
  options: LinkOptions = {},
): Promise<{ link: CoordinatorLink; stop(): Promise<void> } | undefined> {
  const conn = await connect(parts);
  if (!conn) return undefined;
  const keys = await trustedKeys(parts.settings, conn.api);
  const { deps } = parts;
  const logger = deps.logger;
  const abort = new AbortController();
  const reporter = coordinatorReporter(conn.api, conn.nodeId, logger);
  const renewal = conn.session?.keepRenewed({
    clock: systemClock,
    signal: abort.signal,
    everyMs: 60_000,
    onError: (error) => logger.warn({ err: error }, 'certificate renewal failed; retrying'),
  });
  const activity =
    options.activity ?? new HostActivityProbe(deps.cgroups ? { cgroups: deps.cgroups } : {});
  const heartbeats = sendHeartbeats({
    api: conn.api,
    nodeId: conn.nodeId,
    runtime: parts.runtime,
    dataDir: parts.dataDir,
    tracker: new ActivityTracker(activity),
    ...(options.capacity ? { capacity: options.capacity } : {}),
    ...(parts.underlayIp !== undefined ? { underlayIp: parts.underlayIp } : {}),
    everyMs: parts.settings.heartbeatMs,
    clock: systemClock,
    signal: abort.signal,
    logger,
    // Statuses changed upstream while we were lost (pinned instances marked failed).
    onRecovered: () => reporter.forget(),
  });
  let loop: Promise<void> | undefined;
  const link: CoordinatorLink = {
    nodeId: conn.nodeId,
    baseUrl: conn.api.baseUrl,
    mtls: conn.session !== undefined,
    convergeOnce: (onStep?: (step: ReconcileStep) => void) =>
      convergeOnce({ ...parts, conn, keys, reporter }, onStep),
    follow() {
      loop ??= followLoop({ ...parts, conn, keys, reporter }, abort.signal);
    },
  };
  const stop = async (): Promise<void> => {
    abort.abort();
    await loop?.catch((error: unknown) => logger.error({ err: error }, 'agent loop ended'));
    await heartbeats;
    // Renewal sleeps between checks; it stops at its next wake-up and need not be awaited.
    void renewal?.catch(() => undefined);
  };
  if (options.follow !== false) link.follow();
  return { link, stop };
}

interface Linked extends LinkParts {
  conn: Connection;
  keys: string[];
  reporter: CoordinatorReporter;
}

async function convergeOnce(
  linked: Linked,
  onStep?: (step: ReconcileStep) => void,
): Promise<ReconcileStep[]> {
  const { conn, deps } = linked;
  const { document } = await fetchVerifiedDocument(conn.api, conn.nodeId, linked.keys);
  return reconcileDocument({
    document,
    runtime: linked.runtime,
    ...(deps.network ? { network: deps.network } : {}),
    reporter: linked.reporter,
    logger: deps.logger,
    ...(onStep ? { onStep } : {}),
  });
}

function followLoop(linked: Linked, signal: AbortSignal): Promise<void> {
  const { conn, deps } = linked;
  return runAgentLoop({
    api: conn.api,
    nodeId: conn.nodeId,
    trustedKeys: linked.keys,
    production: linked.settings.production,
    runtime: linked.runtime,
    ...(deps.network ? { network: deps.network } : {}),
    store: new DesiredFileStore(join(linked.dataDir, 'desired.json')),
    reporter: linked.reporter,
    clock: systemClock,
    signal,
    logger: deps.logger,
  });
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../../core/errors.ts';
import { systemClock } from '../../drivers/clock/system-clock.ts';
import { createApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { DriverLogger } from '../../drivers/process/logger.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { DesiredFileStore } from '../desired/desired-file-store.ts';
import type { FetchLike } from '../desired/watch-desired.ts';
import { NodeSession } from '../join/node-session.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';
import { HostActivityProbe } from '../../drivers/activity/host-activity-probe.ts';
import type { ActivityProbe } from '../../ports/activity-probe.ts';
import { ActivityTracker } from '../activity/activity-tracker.ts';
import { sendHeartbeats } from '../heartbeat/send-heartbeats.ts';
import { runAgentLoop } from './agent-loop.ts';
import { coordinatorReporter } from './coordinator-reporter.ts';
import type { DocumentNetwork } from './reconcile-document.ts';

export interface CoordinatorLoopSettings {
  /** Used with a token; a joined host takes the coordinator's URL from its identity. */
  coordinatorUrl: string;
  token?: string;
  /** Required with a token; a joined host's id comes from its certificate. */
  nodeId?: string;
  dataDir: string;
  production: boolean;
  /** PEM file of the coordinator's signing key; required in production. */
  trustedKeyFile?: string;
  /** How often to send a heartbeat; default 5 s. */
  heartbeatMs?: number;
  /** This node's underlay address (VXLAN source), sent with every heartbeat. */
  underlayIp?: string;
}

interface Connection {
  baseUrl: string;
  nodeId: string;
  token?: string;
  fetch?: FetchLike;
  session?: NodeSession;
}

/**
 * A host that joined (`mvm add host`) talks mTLS with its node certificate; otherwise a token
 * and an explicit node id are needed (development).
 */
async function connect(
  settings: CoordinatorLoopSettings,
  runner: ProcessRunner,
): Promise<Connection> {
  const session = await NodeSession.open(settings.dataDir, runner).catch(() => undefined);
  if (session && settings.token === undefined) {
    return { baseUrl: session.baseUrl, nodeId: session.nodeId, fetch: session.fetch, session };
  }
  if (settings.production) {
    throw new ValidationError(
      "production mode needs a joined host (run 'mvm add host --production' first)",
    );
  }
  if (!settings.nodeId) {
    throw new ValidationError(
      "this host has not joined a coordinator: run 'mvm add host', or pass --node <id> with a token",
    );
  }
  return {
    baseUrl: settings.coordinatorUrl,
    nodeId: settings.nodeId,
    ...(settings.token ? { token: settings.token } : {}),
  };
}

async function trustedKeys(settings: CoordinatorLoopSettings, fetchKey: () => Promise<string>) {
  if (settings.trustedKeyFile) return [await readFile(settings.trustedKeyFile, 'utf8')];
  if (settings.production) {
    throw new ValidationError(
      'production mode needs the coordinator signing key: pass --trusted-key <pem file> (from GET /v1/signing-key)',
    );
  }
  // Dev mode trusts the key the coordinator presents on first contact.
  return [await fetchKey()];
}

/** Starts the watch-and-reconcile loop (and certificate renewal when joined); resolves to a stop function. */
export async function startCoordinatorLoop(
  settings: CoordinatorLoopSettings,
  runtime: InstanceRuntime,
  runner: ProcessRunner,
  logger?: DriverLogger,
  network?: DocumentNetwork,
  activity: ActivityProbe = new HostActivityProbe(),
): Promise<{ nodeId: string; baseUrl: string; mtls: boolean; stop: () => Promise<void> }> {
  const conn = await connect(settings, runner);
  const api = createApiClient({
    baseUrl: conn.baseUrl,
    ...(conn.token ? { token: conn.token } : {}),
    ...(conn.fetch ? { fetch: conn.fetch } : {}),
  });
  const keys = await trustedKeys(
    settings,
    async () => (await api.call('getSigningKey', {})).publicKeyPem,
  );
  const abort = new AbortController();
  const renewal = conn.session?.keepRenewed({
    clock: systemClock,
    signal: abort.signal,
    everyMs: 60_000,
    onError: (error) => logger?.warn({ err: error }, 'certificate renewal failed; retrying'),
  });
  const reporter = coordinatorReporter(api, conn.nodeId, logger);
  const heartbeats = sendHeartbeats({
    api,
    nodeId: conn.nodeId,
    runtime,
    dataDir: settings.dataDir,
    tracker: new ActivityTracker(activity),
    ...(settings.underlayIp !== undefined ? { underlayIp: settings.underlayIp } : {}),
    ...(settings.heartbeatMs !== undefined ? { everyMs: settings.heartbeatMs } : {}),
    clock: systemClock,
    signal: abort.signal,
    ...(logger ? { logger } : {}),
    // Statuses changed upstream while we were lost (pinned instances marked failed).
    onRecovered: () => reporter.forget(),
  });
  const loop = runAgentLoop({
    coordinatorUrl: conn.baseUrl,
    ...(conn.token ? { token: conn.token } : {}),
    ...(conn.fetch ? { fetch: conn.fetch } : {}),
    nodeId: conn.nodeId,
    trustedKeys: keys,
    production: settings.production,
    runtime,
    ...(network ? { network } : {}),
    store: new DesiredFileStore(join(settings.dataDir, 'desired.json')),
    reporter,
    clock: systemClock,
    signal: abort.signal,
    ...(logger ? { logger } : {}),
  });
  return {
    nodeId: conn.nodeId,
    baseUrl: conn.baseUrl,
    mtls: conn.session !== undefined,
    stop: async () => {
      abort.abort();
      await loop.catch((error: unknown) => logger?.error({ err: error }, 'agent loop ended'));
      await heartbeats;
      // Renewal sleeps between checks; it stops at its next wake-up and need not be awaited.
      void renewal?.catch(() => undefined);
    },
  };
}

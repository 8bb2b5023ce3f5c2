import { serve, type Http2Bindings, type HttpBindings, type ServerType } from '@hono/node-server';
import type { Context } from 'hono';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { openStore } from '../db/open-store.ts';
import { lockSqliteStore } from '../db/sqlite-store-lock.ts';
import { systemClock } from '../drivers/clock/system-clock.ts';
import { OpensslCa } from '../drivers/pki/openssl-ca.ts';
import { NodeProcessRunner } from '../drivers/process/node-process-runner.ts';
import type { CertificateAuthority } from '../ports/certificate-authority.ts';
import { resolveAdminToken } from './admin-token.ts';
import { createCoordinatorApp } from './app.ts';
import { ChangeNotifier } from './desired/change-notifier.ts';
import { watchQueueWake } from './jobs/queue-wake-watch.ts';
import { listenForJobs } from '../db/job-listener.ts';
import { sweepJobs } from './jobs/job-sweeper.ts';
import type { JobSettings } from './services/job-service.ts';
import { secureDataDir } from './data-dir.ts';
import { loadOrCreateSigningKey } from './desired/signing-key.ts';
import { watchIdle } from './idle-loop.ts';
import { watchNodeHealth } from './node-health-loop.ts';
import { watchRollouts } from './rollout-loop.ts';
import { pruneTombstonesEvery } from './tombstone-loop.ts';
import { TOMBSTONE_RETENTION, checkTombstoneRetention } from '../core/tombstone-retention.ts';
import { collectArtifactsEvery } from './services/artifact-gc.ts';
import type { PeerCertificate } from './node-auth.ts';
import {
  ensureServerCertificate,
  keepServerCertificateFresh,
  type ServerCertificate,
} from './tls/server-certificate.ts';
import { randomSuffix } from './random-suffix.ts';
import { resolveKeyring } from './secrets/keyring.ts';
import type { ExecTimeouts } from './services/exec-service.ts';
import { acceptWebSockets, type UpgradeBindings } from './websocket-upgrade.ts';
import { MVM_VERSION } from './version.ts';
import { coordinatorImages, type CoordinatorImageOptions } from './builds/image-builders.ts';
import { DEFAULT_CACHE_DIR } from '../drivers/dev-image/cache-dir.ts';
import type { InstanceMove } from '../core/instance-move.ts';

export interface ServeSettings {
  listen: string;
  databaseUrl: string;
  clusterCidr: string;
  adminToken?: string;
  dataDir: string;
  /** MVM_SECRETS_KEY: base64 master keys, current first; default `<dataDir>/secrets.key`. */
  secretsKey?: string;
  /** PEM file of the Ed25519 desired-state signing key; default `<dataDir>/signing.key`. */
  signingKey?: string;
  /**
   * Production mode: HTTPS with mutual TLS. The server certificate comes from the
   * coordinator's CA (`<dataDir>/ca/`) and lives in `certDir` (default `<dataDir>/tls`);
   * `names` are extra DNS names or IPs agents reach it by (loopback is always included).
   */
  tls?: { certDir?: string; names?: string[] };
  /** Lifetime of node certificates; default 30 days. */
  nodeCertValidityMs?: number;
  /** A ready node silent for longer than this is declared lost; default 30 s. */
  nodeLostAfterMs?: number;
  /** How often the pools' idle policies are applied; default 5 s (idle-loop.ts). */
  idleCheckMs?: number;
  /**
   * A raise waiting for room on its node this long is moved to a node with room, woken there
   * (MoveService.relocateWaiting, checked with the idle pass); off when absent.
   */
  moveWaitingAfterMs?: number;
  /** How long deleted instances' tombstones are kept for watchers; default 1 day (1 min–30 d). */
  tombstoneRetentionMs?: number;
  /** How long sessions wait for a woken instance and a node's tunnel (tests shorten them). */
  execTimeouts?: Partial<ExecTimeouts>;
  /** Job quota, module memory limit and retry policy; defaults when absent. */
  jobs?: JobSettings;
  /** How revisions are built here: the dev image's inputs (default: the agent defaults). */
  images?: Omit<CoordinatorImageOptions, 'dataDir' | 'runner' | 'clock'>;
}

export interface RunningCoordinator {
  url: string;
  close(): Promise<void>;
}

function splitListen(listen: string): { hostname: string; port: number } {
  const at = listen.lastIndexOf(':');
  return {
    hostname: listen.slice(0, at).replace(/^\[|\]$/g, ''),
    port: Number(listen.slice(at + 1)),
  };
}

type FetchHandler = (
  request: Request,
  env: HttpBindings | Http2Bindings | UpgradeBindings,
) => Response | Promise<Response>;

/**
 * Clients may present a certificate but need not (admin and tenant tokens still work); the
 * handshake only records whether it chains to our CA, and node-scoped routes decide.
 */
function listenOn(
  fetch: FetchHandler,
  listen: string,
  tls: { server: ServerCertificate; caPem: string } | undefined,
): Promise<ServerType> {
  const { hostname, port } = splitListen(listen);
  const secure = tls && {
    createServer: createHttpsServer,
    serverOptions: {
      key: tls.server.keyPem,
      // The chain lets a joining host check the CA against a pinned fingerprint.
      cert: tls.server.certificatePem + tls.caPem,
      ca: [tls.caPem],
      requestCert: true,
      rejectUnauthorized: false,
    },
  };
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname, port, ...secure }, () => resolve(server));
    server.once('error', reject);
  });
}

/** The client certificate of an HTTPS request, or undefined when none was presented. */
function peerCertificateOf(c: Context): PeerCertificate | undefined {
  const socket = (c.env as HttpBindings | undefined)?.incoming.socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  const cert = socket.getPeerCertificate();
  if (Object.keys(cert).length === 0) return undefined;
  const error = socket.authorizationError as Error | string | null | undefined;
  return {
    authorized: socket.authorized,
    ...(error ? { authorizationError: String(error) } : {}),
    der: cert.raw,
  };
}

async function serverCertificate(
  settings: ServeSettings,
  ca: CertificateAuthority,
  runner: NodeProcessRunner,
): Promise<ServerCertificate | undefined> {
  if (settings.tls === undefined) return undefined;
  return ensureServerCertificate({
    ca,
    certDir: settings.tls.certDir ?? join(settings.dataDir, 'tls'),
    ...(settings.tls.names ? { names: settings.tls.names } : {}),
    runner,
    clock: systemClock,
  });
}

const FORCE_CLOSE_AFTER_MS = 5_000;

/**
 * Graceful, then forceful: stop accepting, keep closing connections as they fall idle (a
 * keep-alive client would otherwise send its next request on the old socket), and cut the
 * rest once the grace period is over.
 */
async function stopListening(server: ServerType): Promise<void> {
  const http = 'closeIdleConnections' in server ? server : undefined;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const sweep = setInterval(() => http?.closeIdleConnections(), 25);
  const force = setTimeout(() => http?.closeAllConnections(), FORCE_CLOSE_AFTER_MS);
  try {
    await closed;
  } finally {
    clearInterval(sweep);
    clearTimeout(force);
  }
}

/** The coordinator's composition root: store, services, HTTP listener. */
export async function serveCoordinator(
  settings: ServeSettings,
  options: { logger?: pino.Logger } = {},
): Promise<RunningCoordinator> {
  const logger = options.logger ?? pino({ name: 'mvm-coordinator' }, pino.destination(2));
  for (const tightened of secureDataDir(settings.dataDir)) {
    logger.warn({ ...tightened }, 'data dir entry was open to other users; tightened its mode');
  }
  // Refused before anything is opened when another coordinator serves the same SQLite file.
  const storeLock = lockSqliteStore(settings.databaseUrl);
  const opened = async () => {
    // A weak configured admin token is refused before the store is opened.
    const token = await resolveAdminToken(settings.dataDir, settings.adminToken);
    return { adminToken: token, store: await openStore(settings.databaseUrl, { logger }) };
  };
  const { adminToken, store } = await opened().catch((error: unknown) => {
    storeLock.release();
    throw error;
  });
  try {
    const signingKey = await loadOrCreateSigningKey(settings.dataDir, settings.signingKey);
    const secretsKeyring = await resolveKeyring(settings.dataDir, settings.secretsKey);
    const runner = new NodeProcessRunner();
    const ca = await OpensslCa.loadOrCreate(join(settings.dataDir, 'ca'), runner);
    const tlsServer = await serverCertificate(settings, ca, runner);
    const notifier = new ChangeNotifier();
    const images = coordinatorImages({
      dataDir: settings.dataDir,
      runner,
      clock: systemClock,
      ...(settings.images ?? { dev: { cacheDir: DEFAULT_CACHE_DIR } }),
    });
    const { app, services } = createCoordinatorApp({
      store,
      notifier,
      ...(settings.jobs ? { jobs: settings.jobs } : {}),
      signingKey,
      clock: systemClock,
      clusterCidr: settings.clusterCidr,
      version: MVM_VERSION,
      randomSuffix: () => randomSuffix(),
      logger,
      ca,
      ...(settings.nodeCertValidityMs !== undefined
        ? { nodeCertValidityMs: settings.nodeCertValidityMs }
        : {}),
      ...(settings.nodeLostAfterMs !== undefined
        ? { nodeLostAfterMs: settings.nodeLostAfterMs }
        : {}),
      ...(tlsServer ? { peerCertificate: peerCertificateOf } : {}),
      ...(settings.execTimeouts ? { execTimeouts: settings.execTimeouts } : {}),
      adminTokenHome: adminToken.home,
      secretsKeyring,
      images,
      moveRelayDir: join(settings.dataDir, 'moves'),
    });
    const failedBuilds = await services.buildRunner?.recover();
    if (failedBuilds) logger.warn({ builds: failedBuilds }, 'builds cut short by a restart failed');
    const adopted = await services.adminToken.adopt(adminToken);
    if (adopted.revoked.length > 0) {
      logger.warn(
        { source: adminToken.source, tokenId: adopted.id, revoked: adopted.revoked },
        'admin token changed since the last start; the earlier admin tokens no longer work',
      );
    }
    const server = await listenOn(
      app.fetch,
      settings.listen,
      tlsServer && { server: tlsServer, caPem: ca.caCertificatePem },
    );
    // Node tunnels and client sessions: WebSocket routes, upgraded through the same app.
    const sockets = acceptWebSockets(server, app.fetch, logger);
    const stopRefreshing = tlsServer
      ? keepServerCertificateFresh({
          server,
          caPem: ca.caCertificatePem,
          current: tlsServer,
          renew: async () => (await serverCertificate(settings, ca, runner)) ?? tlsServer,
          onError: (err: unknown) => logger.error({ err }, 'server certificate renewal failed'),
        })
      : () => undefined;
    // Demotions put off before a restart (or by another replica) are found again in the store.
    // Armed only once listening: a failed listen closes the store, which the timer would use.
    await services.rechecks
      .start()
      .catch((err: unknown) => logger.error({ err }, 'sleep-policy re-checks not restored'));
    const health = watchNodeHealth({ health: services.health, clock: systemClock, logger });
    const idle = watchIdle({
      // Queue-driven pools are raised in the same pass the idle policy lowers them in.
      idle: {
        pass: async () => {
          const lowered = await services.idle.pass();
          const raised = await services.queueWake.pass();
          const moved = await relocated(services, settings.moveWaitingAfterMs);
          return { ...lowered, changed: [...lowered.changed, ...raised.changed, ...moved] };
        },
      },
      logger,
      ...(settings.idleCheckMs !== undefined ? { everyMs: settings.idleCheckMs } : {}),
    });
    const rollouts = watchRollouts({ rollouts: services.rollouts, logger });
    const tombstones = pruneTombstonesEvery({
      store,
      clock: systemClock,
      retentionMs: checkTombstoneRetention(
        settings.tombstoneRetentionMs ?? TOMBSTONE_RETENTION.defaultMs,
      ),
      logger,
    });
    // Artifacts only destroyed pools' revisions named, and uploads no build used, go (after a
    // grace age; never mid-build).
    const artifactGc = collectArtifactsEvery({ store, clock: systemClock, logger }, images);
    // Other replicas' submits wake this one's waiting claims (Postgres; nothing on SQLite).
    const jobListener = listenForJobs(
      settings.databaseUrl,
      (key) => notifier.notify({ jobs: [key] }),
      logger,
    );
    const sweeper = sweepJobs(services.jobs, logger);
    // A submit raises a queue-driven pool's sleeping workers at once, not at the idle tick.
    const queueWatch = watchQueueWake({ notifier, queueWake: services.queueWake, logger });
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `${tlsServer ? 'https' : 'http'}://${host}:${address.port}`;
    logger.info(
      {
        url,
        store: store.dialect,
        signingKeyId: signingKey.keyId,
        secretsKeyId: (await secretsKeyring.current()).id,
        secretsKeySource: secretsKeyring.source,
      },
      'coordinator listening',
    );
    return {
      url,
      close: async () => {
        // Long-polling agents would otherwise hold the listener open for up to 30 s.
        services.desired.close();
        services.exec.tunnels.close();
        services.jobs.close();
        sweeper.stop();
        await jobListener?.close();
        await queueWatch.stop();
        sockets.close();
        await services.rechecks.close();
        await services.buildRunner?.close();
        await health.stop();
        await idle.stop();
        await rollouts.stop();
        await tombstones.stop();
        await artifactGc.stop();
        stopRefreshing();
        await stopListening(server);
        await store.close();
        storeLock.release();
        logger.info({}, 'coordinator stopped');
      },
    };
  } catch (error) {
    await store.close();
    storeLock.release();
    throw error;
  }
}

/** Raises that waited too long for room, moved to a node with room (off without a bound). */
async function relocated(
  services: { moves: { relocateWaiting(boundMs: number): Promise<InstanceMove[]> } },
  boundMs: number | undefined,
): Promise<Array<{ instance: string; to: string; reason: string }>> {
  if (boundMs === undefined) return [];
  const moves = await services.moves.relocateWaiting(boundMs);
  return moves.map((m) => ({
    instance: `${m.tenantId}/${m.poolId}/${m.instanceId}`,
    to: `moving to ${m.targetNode}`,
    reason: 'waited-for-room',
  }));
}

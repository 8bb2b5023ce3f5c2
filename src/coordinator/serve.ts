import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { openStore } from '../db/open-store.ts';
import { systemClock } from '../drivers/clock/system-clock.ts';
import { resolveAdminToken } from './admin-token.ts';
import { createCoordinatorApp } from './app.ts';
import { loadOrCreateSigningKey } from './desired/signing-key.ts';
import { randomSuffix } from './random-suffix.ts';
import { MVM_VERSION } from './version.ts';

export interface ServeSettings {
  listen: string;
  databaseUrl: string;
  clusterCidr: string;
  adminToken?: string;
  dataDir: string;
  /** PEM file of the Ed25519 desired-state signing key; default `<dataDir>/signing.key`. */
  signingKey?: string;
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

function listenOn(
  fetch: (request: Request) => Response | Promise<Response>,
  listen: string,
): Promise<ServerType> {
  const { hostname, port } = splitListen(listen);
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, hostname, port }, () => resolve(server));
    server.once('error', reject);
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
  const store = await openStore(settings.databaseUrl, { logger });
  try {
    const signingKey = await loadOrCreateSigningKey(settings.dataDir, settings.signingKey);
    const { app, services } = createCoordinatorApp({
      store,
      signingKey,
      clock: systemClock,
      clusterCidr: settings.clusterCidr,
      version: MVM_VERSION,
      randomSuffix: () => randomSuffix(),
      logger,
    });
    await services.tokens.ensureAdmin(
      await resolveAdminToken(settings.dataDir, settings.adminToken),
    );
    const server = await listenOn(app.fetch, settings.listen);
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    logger.info(
      { url, store: store.dialect, signingKeyId: signingKey.keyId },
      'coordinator listening',
    );
    return {
      url,
      close: async () => {
        // Long-polling agents would otherwise hold the listener open for up to 30 s.
        services.desired.close();
        await stopListening(server);
        await store.close();
        logger.info({}, 'coordinator stopped');
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

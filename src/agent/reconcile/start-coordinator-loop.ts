import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../../core/errors.ts';
import { systemClock } from '../../drivers/clock/system-clock.ts';
import { createApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { DriverLogger } from '../../drivers/process/logger.ts';
import { DesiredFileStore } from '../desired/desired-file-store.ts';
import type { InstanceRuntime } from '../runtime/instance-runtime.ts';
import { runAgentLoop } from './agent-loop.ts';
import { coordinatorReporter } from './coordinator-reporter.ts';

export interface CoordinatorLoopSettings {
  coordinatorUrl: string;
  token?: string;
  nodeId: string;
  dataDir: string;
  production: boolean;
  /** PEM file of the coordinator's signing key; required in production. */
  trustedKeyFile?: string;
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

/** Starts the watch-and-reconcile loop; resolves to a stop function. */
export async function startCoordinatorLoop(
  settings: CoordinatorLoopSettings,
  runtime: InstanceRuntime,
  logger?: DriverLogger,
): Promise<() => Promise<void>> {
  const api = createApiClient({
    baseUrl: settings.coordinatorUrl,
    ...(settings.token ? { token: settings.token } : {}),
  });
  const keys = await trustedKeys(
    settings,
    async () => (await api.call('getSigningKey', {})).publicKeyPem,
  );
  const abort = new AbortController();
  const loop = runAgentLoop({
    coordinatorUrl: settings.coordinatorUrl,
    ...(settings.token ? { token: settings.token } : {}),
    nodeId: settings.nodeId,
    trustedKeys: keys,
    production: settings.production,
    runtime,
    store: new DesiredFileStore(join(settings.dataDir, 'desired.json')),
    reporter: coordinatorReporter(api, settings.nodeId, logger),
    clock: systemClock,
    signal: abort.signal,
    ...(logger ? { logger } : {}),
  });
  return async () => {
    abort.abort();
    await loop.catch((error: unknown) => logger?.error({ err: error }, 'agent loop ended'));
  };
}

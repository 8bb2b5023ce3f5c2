import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import { openStore } from '../db/open-store.ts';
import { parseStoreUrl, SQLITE_MEMORY } from '../db/store-url.ts';
import { systemClock } from '../drivers/clock/system-clock.ts';
import { adminTokenFile, CONFIGURED_SOURCE } from './admin-token.ts';
import { secureDataDir } from './data-dir.ts';
import { randomSuffix } from './random-suffix.ts';
import { AdminTokenService } from './services/admin-token-service.ts';

export interface HostRotation {
  tokenId: string;
  /** Where the new secret now is (it is not printed). */
  file: string;
  revoked: string[];
}

/**
 * Rotation on the coordinator's host, straight on its store: the way back in when the admin
 * token is lost, leaked or revoked, with or without the coordinator running (a running one
 * takes the new token at its next request, since nothing is cached).
 */
export async function rotateAdminTokenOnHost(settings: {
  dataDir: string;
  databaseUrl: string;
  clusterCidr: string;
  adminToken?: string;
}): Promise<HostRotation> {
  if (settings.adminToken !== undefined) {
    throw new ConflictError(
      `the admin token comes from ${CONFIGURED_SOURCE}: change the value there and restart the coordinator (the previous value stops working at start)`,
    );
  }
  refuseMissingStore(settings.databaseUrl);
  const file = adminTokenFile(settings.dataDir);
  secureDataDir(settings.dataDir);
  const store = await openStore(settings.databaseUrl);
  try {
    const service = new AdminTokenService({
      store,
      clock: systemClock,
      randomSuffix,
      clusterCidr: settings.clusterCidr,
      adminTokenHome: { kind: 'file', path: file },
    });
    const rotated = await service.rotate(`host:${hostname()}`);
    return { tokenId: rotated.id, file, revoked: rotated.revoked };
  } finally {
    await store.close();
  }
}

/** Opening a missing SQLite file would create an empty store and rotate a token no one uses. */
export function refuseMissingStore(databaseUrl: string): void {
  const target = parseStoreUrl(databaseUrl);
  if (target.dialect !== 'sqlite') return;
  if (target.path !== SQLITE_MEMORY && existsSync(target.path)) return;
  throw new NotFoundError(
    'coordinator store',
    target.path,
    'pass the --data-dir (or --database) the coordinator runs with',
  );
}

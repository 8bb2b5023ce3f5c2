import { openStore } from '../../db/open-store.ts';
import { secureDataDir } from '../data-dir.ts';
import { refuseMissingStore } from '../rotate-admin-on-host.ts';
import { resolveKeyring } from './keyring.ts';
import { rotateSecretsKey, type KeyRotation } from './rotate-secrets-key.ts';

/**
 * `mvm coordinator rotate-secrets-key`, on the coordinator's host, straight on its store and
 * its keys (MVM_SECRETS_KEY or `<data dir>/secrets.key`), whether the coordinator runs or not.
 */
export async function rotateSecretsKeyOnHost(settings: {
  dataDir: string;
  databaseUrl: string;
  secretsKey?: string;
}): Promise<KeyRotation> {
  refuseMissingStore(settings.databaseUrl);
  secureDataDir(settings.dataDir);
  const keyring = await resolveKeyring(settings.dataDir, settings.secretsKey);
  const store = await openStore(settings.databaseUrl);
  try {
    return await rotateSecretsKey(store, keyring);
  } finally {
    await store.close();
  }
}

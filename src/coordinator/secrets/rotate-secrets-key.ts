import type { Store } from '../../ports/store.ts';
import { openSecret, SECRETS_KEY_LOCK } from '../services/secret-service.ts';
import type { Keyring } from './keyring.ts';
import { newMasterKey, seal, type MasterKey } from './secret-box.ts';

export interface KeyRotation {
  /** The key every secret is now sealed under. */
  keyId: string;
  /** Where the keys live: the key file (rewritten) or the environment (the operator's to edit). */
  source: string;
  kind: 'file' | 'environment';
  /** Secrets resealed under it. */
  resealed: number;
  /** Keys dropped (key file) or no longer needed (environment: drop them there). */
  retired: string[];
}

/**
 * Rotates the secrets master key. With the key file: a new key is added in front (the old ones
 * stay, so every stored value can still be opened), every value is resealed under it in one
 * transaction, and only then are the old keys removed. A crash in between leaves the file with
 * both, and running the rotation again finishes it. With MVM_SECRETS_KEY the operator puts the
 * new key first (keeping the old after it) on every replica; this then reseals every value under
 * it and names the keys that may be dropped. A running coordinator re-reads the key file on every
 * use, and seals under the same lock, so nothing it writes meanwhile escapes the reseal.
 */
export async function rotateSecretsKey(store: Store, keyring: Keyring): Promise<KeyRotation> {
  const before = await keyring.all();
  if (keyring.replace) await keyring.replace([newMasterKey(), ...before]);
  const current = await keyring.current();
  const resealed = await resealAll(store, keyring, current);
  const used = new Set((await store.secrets.keyUse()).map((use) => use.keyId));
  const retired = before.filter((key) => key.id !== current.id && !used.has(key.id));
  if (keyring.replace) {
    await keyring.replace([
      current,
      ...before.filter((key) => used.has(key.id) && key.id !== current.id),
    ]);
  }
  return {
    keyId: current.id,
    source: keyring.source,
    kind: keyring.replace ? 'file' : 'environment',
    resealed,
    retired: retired.map((k) => k.id),
  };
}

/** Every value not sealed under `current`, opened with its own key and sealed under it. */
async function resealAll(store: Store, keyring: Keyring, current: MasterKey): Promise<number> {
  return store.transaction(async (repos) => {
    await repos.locks.acquire(SECRETS_KEY_LOCK);
    const stale = await repos.secrets.sealedUnder(current.id);
    for (const secret of stale) {
      const value = await openSecret(keyring, secret);
      await repos.secrets.reseal(secret, seal(current, secret, value));
    }
    return stale.length;
  });
}

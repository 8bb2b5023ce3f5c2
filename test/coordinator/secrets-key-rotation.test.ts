import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ensureKeyFile,
  fileKeyring,
  formatKeys,
  parseKeys,
  resolveKeyring,
  staticKeyring,
  writeKeyFile,
} from '../../src/coordinator/secrets/keyring.ts';
import { rotateSecretsKey } from '../../src/coordinator/secrets/rotate-secrets-key.ts';
import { newMasterKey } from '../../src/coordinator/secrets/secret-box.ts';
import type { Keyring } from '../../src/coordinator/secrets/keyring.ts';
import type { Store } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { apiOver } from './api-client-harness.ts';
import { secretsWorld, type SecretsWorld } from './secrets-harness.ts';

type Json = Record<string, unknown>;

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mvm-seckey-'));
  dirs.push(dir);
  return dir;
}

async function setSome(w: SecretsWorld): Promise<void> {
  await w.api.call('POST', '/tenants/acme/secrets', {
    body: { values: { A: 'alpha', B: 'beta' } },
  });
  await w.api.call('POST', '/tenants/acme/secrets', {
    body: { pool: 'web', values: { A: 'web-a' } },
  });
}

const delivered = async (w: Pick<SecretsWorld, 'api'>) =>
  ((await w.api.call('GET', '/nodes/n1/secrets/acme/web')).body as Json).values;

/** Another coordinator over the same database, with its own keys. */
const replica = async (store: Store, keyring: Keyring) => ({
  api: await apiOver(store, { secretsKeyring: keyring }),
});

const keyUse = (store: Store) => store.secrets.keyUse();

await describeEachDatabase('secrets master key rotation', ({ store }) => {
  it('key file: reseals every value under a new key, then drops the old one', async () => {
    const dir = await dataDir();
    const keyring = fileKeyring(await ensureKeyFile(dir));
    const old = await keyring.current();
    // The running coordinator: it re-reads the key file on every use.
    const w = await secretsWorld(store(), keyring);
    await setSome(w);
    const sealedBefore = await store().secrets.list('acme');
    expect(await keyUse(store())).toEqual([{ keyId: old.id, count: 3 }]);

    const rotation = await rotateSecretsKey(store(), keyring);
    expect(rotation).toMatchObject({
      resealed: 3,
      retired: [old.id],
      source: join(dir, 'secrets.key'),
    });
    expect(rotation.keyId).not.toBe(old.id);
    expect(await keyUse(store())).toEqual([{ keyId: rotation.keyId, count: 3 }]);
    const file = join(dir, 'secrets.key');
    expect(parseKeys(await readFile(file, 'utf8'), file).map((k) => k.id)).toEqual([
      rotation.keyId,
    ]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    // New nonces and ciphertexts; versions and times unchanged: no document moves.
    const sealedAfter = await store().secrets.list('acme');
    expect(sealedAfter.map((s) => [s.name, s.version, s.updatedAt])).toEqual(
      sealedBefore.map((s) => [s.name, s.version, s.updatedAt]),
    );
    for (const [i, s] of sealedAfter.entries()) {
      expect(s.ciphertext).not.toBe(sealedBefore[i]?.ciphertext);
    }
    // The running coordinator opens and seals under the new key at once.
    expect(await delivered(w)).toEqual({ A: 'web-a', B: 'beta' });
    await w.api.call('POST', '/tenants/acme/secrets', { body: { values: { C: 'gamma' } } });
    expect(await keyUse(store())).toEqual([{ keyId: rotation.keyId, count: 4 }]);
  });

  it('key file: a rotation cut short (both keys kept) is finished by running it again', async () => {
    const dir = await dataDir();
    const file = await ensureKeyFile(dir);
    const keyring = fileKeyring(file);
    const first = await keyring.current();
    const w = await secretsWorld(store(), keyring);
    await setSome(w);
    // As a crash after the new key was written leaves it: new first, old kept, rows on both.
    const second = newMasterKey();
    await writeKeyFile(file, [second, first]);
    await w.api.call('POST', '/tenants/acme/secrets', { body: { values: { C: 'gamma' } } });
    expect((await keyUse(store())).map((u) => u.count).sort()).toEqual([1, 3]);

    const rotation = await rotateSecretsKey(store(), keyring);
    expect(rotation.resealed).toBe(4);
    expect(rotation.retired.sort()).toEqual([first.id, second.id].sort());
    expect(parseKeys(await readFile(file, 'utf8'), file).map((k) => k.id)).toEqual([
      rotation.keyId,
    ]);
    expect(await delivered(w)).toEqual({ A: 'web-a', B: 'beta', C: 'gamma' });
  });

  it('environment: with the new key first and the old after it, reseals and names the key to drop', async () => {
    const old = newMasterKey();
    const before = await secretsWorld(store(), staticKeyring([old], 'MVM_SECRETS_KEY'));
    await setSome(before);
    const next = newMasterKey();
    // The operator restarted the coordinators with MVM_SECRETS_KEY=<new>,<old>.
    const both = staticKeyring([next, old], 'MVM_SECRETS_KEY');
    const rotation = await rotateSecretsKey(store(), both);
    expect(rotation).toEqual({
      keyId: next.id,
      source: 'MVM_SECRETS_KEY',
      kind: 'environment',
      resealed: 3,
      retired: [old.id],
    });
    const after = await replica(store(), staticKeyring([next], 'MVM_SECRETS_KEY'));
    expect(await delivered(after)).toEqual({ A: 'web-a', B: 'beta' });
  });

  it('a value sealed under a key the coordinator lacks: a clear error, and no rotation', async () => {
    const lost = newMasterKey();
    const w = await secretsWorld(store(), staticKeyring([lost], 'MVM_SECRETS_KEY'));
    await setSome(w);
    const other = staticKeyring([newMasterKey()], 'MVM_SECRETS_KEY');
    const without = await replica(store(), other);
    const refused = await without.api.call('GET', '/nodes/n1/secrets/acme/web');
    expect(refused.status).toBe(500);
    expect(String((refused.body as { error: { message: string } }).error.message)).toBe(
      `secret A of pool 'acme/web' is sealed under master key ${lost.id}, which MVM_SECRETS_KEY does not hold; give the coordinator that key (see docs/secrets.md) or set the secret again`,
    );
    await expect(rotateSecretsKey(store(), other)).rejects.toThrow(/does not hold/);
    expect(await keyUse(store())).toEqual([{ keyId: lost.id, count: 3 }]);
  });
});

describe('master key sources', () => {
  it('reads MVM_SECRETS_KEY (current first) and never echoes a bad key', async () => {
    const a = newMasterKey();
    const b = newMasterKey();
    const keyring = await resolveKeyring(
      '/nonexistent',
      `${a.key.toString('base64')},${b.key.toString('base64')}`,
    );
    expect((await keyring.current()).id).toBe(a.id);
    expect((await keyring.find(b.id))?.id).toBe(b.id);
    const secretish = 'c2hvcnQta2V5LW5vdC0zMi1ieXRlcw==';
    const error = await resolveKeyring('/nonexistent', secretish).catch((e: unknown) => e);
    expect(String((error as Error).message)).toBe(
      "cannot use the secrets master keys from MVM_SECRETS_KEY: key 1 of MVM_SECRETS_KEY is not 32 bytes of base64; make one with 'openssl rand -base64 32'",
    );
    expect(JSON.stringify(error)).not.toContain(secretish);
  });

  it('creates <data dir>/secrets.key once, 0600, and keeps it', async () => {
    const dir = await dataDir();
    const first = await resolveKeyring(dir);
    const again = await resolveKeyring(dir);
    expect((await again.current()).id).toBe((await first.current()).id);
    expect((await stat(join(dir, 'secrets.key'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, 'secrets.key'), 'utf8')).toBe(
      formatKeys([await first.current()]),
    );
  });
});

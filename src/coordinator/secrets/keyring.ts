import { access, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, UnavailableError, ValidationError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../drivers/fs/write-file-atomic.ts';
import { masterKey, MASTER_KEY_BYTES, newMasterKey, type MasterKey } from './secret-box.ts';

/**
 * The coordinator's secrets master keys: the current one seals new values, older ones still
 * open what they sealed until `mvm coordinator rotate-secrets-key` reseals it. They come from
 * MVM_SECRETS_KEY (comma-separated base64 keys, current first; replicas of one database must
 * share it) or from `<data dir>/secrets.key` (one base64 key per line, current first, 0600,
 * created on first start). The file is read on every use, so a running coordinator follows a
 * rotation done beside it at once.
 */
export interface Keyring {
  /** Names where the keys come from, for messages. */
  readonly source: string;
  current(): Promise<MasterKey>;
  /** A key this coordinator holds, current or older; undefined otherwise. */
  find(keyId: string): Promise<MasterKey | undefined>;
  all(): Promise<MasterKey[]>;
  /**
   * Rewrites the keys (current first): only the key file can, so only it can make a new key;
   * keys from the environment change where they are configured.
   */
  replace?(keys: readonly MasterKey[]): Promise<void>;
}

export const SECRETS_KEY_ENV = 'MVM_SECRETS_KEY';
export const SECRETS_KEY_FILE = 'secrets.key';

/** Parses keys written as base64, separated by commas or line breaks; current first. */
export function parseKeys(text: string, source: string): MasterKey[] {
  const words = text.split(/[\s,]+/).filter((word) => word !== '');
  const problems = words.flatMap((word, index) => {
    const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(word) ? Buffer.from(word, 'base64') : undefined;
    return bytes?.length === MASTER_KEY_BYTES
      ? []
      : [`key ${index + 1} of ${source} is not ${MASTER_KEY_BYTES} bytes of base64`];
  });
  if (words.length === 0) problems.push(`${source} holds no key`);
  if (problems.length > 0) {
    throw new ValidationError(
      `cannot use the secrets master keys from ${source}: ${problems.join('; ')}; make one with 'openssl rand -base64 32'`,
      problems,
    );
  }
  return words.map((word) => masterKey(Buffer.from(word, 'base64')));
}

export function formatKeys(keys: readonly MasterKey[]): string {
  return keys.map((k) => `${k.key.toString('base64')}\n`).join('');
}

function keyringOf(source: string, load: () => Promise<MasterKey[]>): Keyring {
  return {
    source,
    current: async () => {
      const [first] = await load();
      if (!first) throw new UnavailableError(`${source} holds no secrets master key`);
      return first;
    },
    find: async (keyId) => (await load()).find((k) => k.id === keyId),
    all: load,
  };
}

/** Keys held in memory: the environment's, or a fresh one for in-process apps and tests. */
export function staticKeyring(keys: readonly MasterKey[], source: string): Keyring {
  const held = [...keys];
  return keyringOf(source, async () => held);
}

export function ephemeralKeyring(): Keyring {
  return staticKeyring([newMasterKey()], 'an ephemeral key (this process only)');
}

export function keyFileOf(dataDir: string): string {
  return join(dataDir, SECRETS_KEY_FILE);
}

/** The key file's keyring; the file must exist (see ensureKeyFile). */
export function fileKeyring(path: string): Keyring {
  return {
    ...keyringOf(path, async () => parseKeys(await readKeyFile(path), path)),
    replace: (keys) => writeKeyFile(path, keys),
  };
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new UnavailableError(
      `cannot read the secrets master key file ${path}: ${errorMessage(error)}; restore it from backup (without it no stored secret can be opened)`,
      { path },
    );
  }
}

/**
 * Creates `<dataDir>/secrets.key` with one new key unless it exists: a hard link of a fully
 * written 0600 temp file, which fails if the file appeared meanwhile, so two coordinators
 * starting together end up with the same key.
 */
export async function ensureKeyFile(dataDir: string): Promise<string> {
  const file = keyFileOf(dataDir);
  const exists = await access(file).then(
    () => true,
    () => false,
  );
  if (exists) return file;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temp, formatKeys([newMasterKey()]), { mode: 0o600, flag: 'wx' });
  try {
    await link(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await rm(temp, { force: true });
  }
  return file;
}

/** Rewrites the key file atomically (0600): the keys given, current first. */
export function writeKeyFile(path: string, keys: readonly MasterKey[]): Promise<void> {
  return writeFileAtomic(path, formatKeys(keys), 0o600);
}

/**
 * The keyring a coordinator uses: MVM_SECRETS_KEY when set (the key file is then not used),
 * else the data dir's key file, created on first start.
 */
export async function resolveKeyring(dataDir: string, configured?: string): Promise<Keyring> {
  if (configured !== undefined) {
    return staticKeyring(parseKeys(configured, SECRETS_KEY_ENV), SECRETS_KEY_ENV);
  }
  const file = await ensureKeyFile(dataDir);
  const keyring = fileKeyring(file);
  await keyring.current();
  return keyring;
}

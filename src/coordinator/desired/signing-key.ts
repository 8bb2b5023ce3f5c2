import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  type KeyObject,
} from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, UnavailableError, ValidationError } from '../../core/errors.ts';

/** The coordinator's Ed25519 key for desired-state documents. */
export interface SigningKey {
  keyId: string;
  publicKeyPem: string;
  /** Base64 Ed25519 signature over the UTF-8 bytes of `payload`. */
  sign(payload: string): string;
}

/** First 16 hex digits of sha256 over the public key's SPKI DER (agents compute the same). */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

export function signingKeyFrom(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    const problem = `signing key is ${privateKey.asymmetricKeyType ?? 'unknown'}, not ed25519`;
    throw new ValidationError(
      `${problem}; generate one with 'openssl genpkey -algorithm ed25519'`,
      [problem],
    );
  }
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: keyIdOf(publicKey),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (payload) => sign(null, Buffer.from(payload, 'utf8'), privateKey).toString('base64'),
  };
}

/** A key that lives as long as the process: for in-process apps and tests. */
export function ephemeralSigningKey(): SigningKey {
  return signingKeyFrom(generateKeyPairSync('ed25519').privateKey);
}

async function readKey(path: string): Promise<SigningKey | undefined> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return signingKeyFrom(createPrivateKey(pem));
  } catch (error) {
    const cause = errorMessage(error);
    throw new UnavailableError(
      `cannot read the desired-state signing key ${path}: ${cause}; restore it from backup (agents trust its public key) or remove it to make a new one and re-trust agents`,
      { path },
    );
  }
}

/**
 * The configured key file (which must exist), else `<dataDir>/signing.key`, created on first
 * start. Creation is a hard link of a fully written 0600 temp file, which fails if the file
 * appeared meanwhile, so two coordinators starting together end up with the same key.
 */
export async function loadOrCreateSigningKey(
  dataDir: string,
  configured?: string,
): Promise<SigningKey> {
  if (configured !== undefined) {
    const key = await readKey(configured);
    if (key) return key;
    throw new UnavailableError(
      `signing key ${configured} does not exist; create it with 'openssl genpkey -algorithm ed25519 -out ${configured}' or drop the setting to use <data-dir>/signing.key`,
      { path: configured },
    );
  }
  const file = join(dataDir, 'signing.key');
  const existing = await readKey(file);
  if (existing) return existing;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  try {
    await link(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await rm(temp, { force: true });
  }
  const stored = await readKey(file);
  if (!stored) throw new UnavailableError(`signing key ${file} vanished right after creation`);
  return stored;
}

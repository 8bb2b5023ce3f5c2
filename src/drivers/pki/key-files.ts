import { generateKeyPairSync } from 'node:crypto';
import { writeFileAtomic as writeAtomic } from '../fs/write-file-atomic.ts';

/** A new EC P-256 private key as PKCS#8 PEM. Node can make keys; only certificates need openssl. */
export function newEcPrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Atomic write; `secret` files are 0600 from their first byte. */
export function writeFileAtomic(path: string, content: string, secret = false): Promise<void> {
  return writeAtomic(path, content, secret ? 0o600 : 0o644);
}

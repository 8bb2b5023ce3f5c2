import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A new EC P-256 private key as PKCS#8 PEM. Node can make keys; only certificates need openssl. */
export function newEcPrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * Writes a file atomically (temp file + rename) so a reader sees the old or the new content,
 * never half of one; `secret` files are 0600 from their first byte.
 */
export async function writeFileAtomic(
  path: string,
  content: string,
  secret = false,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const mode = secret ? 0o600 : 0o644;
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temp, content, { mode });
  await chmod(temp, mode);
  await rename(temp, path);
}

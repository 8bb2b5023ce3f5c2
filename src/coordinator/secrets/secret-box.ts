import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { InternalError } from '../../core/errors.ts';

/**
 * Sealing one secret value: AES-256-GCM under a master key, a random 96-bit nonce per sealing,
 * and additional data binding the ciphertext to its place (tenant, pool, name) and version, so
 * a value copied onto another secret's row, or an older version put back, fails to open.
 */
export interface MasterKey {
  /** First 16 hex digits of sha256 over the key: names it in rows and messages. */
  id: string;
  key: Buffer;
}

export interface Sealed {
  keyId: string;
  /** base64, 12 bytes. */
  nonce: string;
  /** base64 of the ciphertext followed by the 16-byte GCM tag. */
  ciphertext: string;
}

/** Where a sealed value belongs; part of what the tag authenticates. */
export interface SealedPlace {
  tenantId: string;
  poolId: string | null;
  name: string;
  version: number;
}

export const MASTER_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

export function masterKey(key: Buffer): MasterKey {
  if (key.length !== MASTER_KEY_BYTES) {
    throw new InternalError(
      `a secrets master key must be ${MASTER_KEY_BYTES} bytes, not ${key.length}`,
    );
  }
  return { id: keyIdOf(key), key };
}

export function newMasterKey(): MasterKey {
  return masterKey(randomBytes(MASTER_KEY_BYTES));
}

function aadOf(place: SealedPlace): Buffer {
  const { tenantId, poolId, name, version } = place;
  return Buffer.from(`mvm-secret/v1\0${tenantId}\0${poolId ?? ''}\0${name}\0${version}`, 'utf8');
}

export function seal(key: MasterKey, place: SealedPlace, value: string): Sealed {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aadOf(place));
  const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return { keyId: key.id, nonce: nonce.toString('base64'), ciphertext: body.toString('base64') };
}

/**
 * The value, or an InternalError naming the secret (never any of its bytes) when the row was
 * altered, moved or sealed under another key with the same id.
 */
export function open(key: MasterKey, place: SealedPlace, sealed: Sealed): string {
  const nonce = Buffer.from(sealed.nonce, 'base64');
  const body = Buffer.from(sealed.ciphertext, 'base64');
  try {
    if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) throw new Error('malformed');
    const decipher = createDecipheriv('aes-256-gcm', key.key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aadOf(place));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    const plain = Buffer.concat([decipher.update(body.subarray(0, -TAG_BYTES)), decipher.final()]);
    return plain.toString('utf8');
  } catch {
    throw new InternalError(
      `secret ${place.name} of ${placeName(place)} (version ${place.version}) fails its integrity check under master key ${key.id}: its stored ciphertext was altered or moved; set it again`,
      { tenantId: place.tenantId, pool: place.poolId, name: place.name },
    );
  }
}

export function placeName(place: { tenantId: string; poolId: string | null }): string {
  return place.poolId === null
    ? `tenant '${place.tenantId}'`
    : `pool '${place.tenantId}/${place.poolId}'`;
}

/** Bytes of the value a sealed body holds (GCM adds only its tag). */
export function sealedBytes(sealed: Pick<Sealed, 'ciphertext'>): number {
  return Math.max(0, Buffer.from(sealed.ciphertext, 'base64').length - TAG_BYTES);
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../core/errors.ts';
import { weakSecretProblem } from '../core/secret-strength.ts';
import { writeFileAtomic } from '../drivers/fs/write-file-atomic.ts';
import { newTokenSecret } from './services/token-service.ts';

/**
 * Where the coordinator's one admin token comes from: the configuration (MVM_ADMIN_TOKEN or
 * coordinator.adminToken), which only the operator changes, or `<dataDir>/admin.token`, which
 * the coordinator writes on first start and on rotation.
 */
export type AdminTokenHome = { kind: 'configured' } | { kind: 'file'; path: string };

export interface ResolvedAdminToken {
  secret: string;
  home: AdminTokenHome;
  /** Names the source in messages and the audit log (never the secret). */
  source: string;
}

export const CONFIGURED_SOURCE = 'MVM_ADMIN_TOKEN (or coordinator.adminToken)';

export function adminTokenFile(dataDir: string): string {
  return join(dataDir, 'admin.token');
}

/** Writes a new admin secret where a local CLI finds it: 0600, atomically. */
export function writeAdminTokenFile(path: string, secret: string): Promise<void> {
  return writeFileAtomic(path, `${secret}\n`, 0o600);
}

/**
 * The admin secret: the configured one, else the one in `<dataDir>/admin.token`, else a new one
 * written there. A weak configured or hand-written value is refused before anything starts.
 */
export async function resolveAdminToken(
  dataDir: string,
  configured?: string,
): Promise<ResolvedAdminToken> {
  if (configured !== undefined) {
    refuseWeak(configured, CONFIGURED_SOURCE, 'set a new value');
    return { secret: configured, home: { kind: 'configured' }, source: CONFIGURED_SOURCE };
  }
  const path = adminTokenFile(dataDir);
  const home: AdminTokenHome = { kind: 'file', path };
  const existing = await readExisting(path);
  if (existing !== undefined) {
    refuseWeak(existing, path, 'delete the file to have a new one issued');
    return { secret: existing, home, source: path };
  }
  const secret = newTokenSecret();
  await writeAdminTokenFile(path, secret);
  return { secret, home, source: path };
}

async function readExisting(path: string): Promise<string | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function refuseWeak(secret: string, source: string, fix: string): void {
  const problem = weakSecretProblem(secret);
  if (problem === undefined) return;
  const message = `the admin token from ${source} ${problem}; ${fix} and start the coordinator again`;
  throw new ValidationError(message, [message]);
}

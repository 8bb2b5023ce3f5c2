import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../drivers/fs/write-file-atomic.ts';
import { join } from 'node:path';
import { newTokenSecret } from './services/token-service.ts';

/**
 * The admin secret: the configured one, else the one in `<dataDir>/admin.token`, else a new one
 * written there (0600, atomically) so that a local CLI finds it without configuration.
 */
export async function resolveAdminToken(dataDir: string, configured?: string): Promise<string> {
  if (configured !== undefined) return configured;
  const file = join(dataDir, 'admin.token');
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing !== '') return existing;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const secret = newTokenSecret();
  await writeFileAtomic(file, `${secret}\n`, 0o600);
  return secret;
}

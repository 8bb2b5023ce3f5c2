import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import { writeFileAtomic } from './key-files.ts';

/**
 * A PEM certificate signing request for `keyPem`. The key goes to a private temp file for
 * openssl (never on its command line) and is removed straight after.
 */
export async function createCsr(
  runner: ProcessRunner,
  keyPem: string,
  commonName: string,
): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'mvm-csr-'));
  try {
    const keyFile = join(work, 'key.pem');
    await writeFileAtomic(keyFile, keyPem, true);
    const { stdout } = await runner.run('openssl', [
      'req',
      '-new',
      '-key',
      keyFile,
      '-subj',
      `/CN=${commonName}`,
      '-sha256',
    ]);
    return stdout;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../drivers/fs/write-file-atomic.ts';
import { z } from 'zod';
import {
  desiredManifestSchema,
  signedEnvelopeSchema,
  type StoredEnvelope,
} from '../../contract/desired.ts';
import type { VerifiedDocument, VerifyOptions } from './verify-desired.ts';
import { verifyStored } from './verify-manifest.ts';

/** Signed over its payload, or over its manifest with every tenant's text. */
const storedSchema = z.union([
  signedEnvelopeSchema,
  desiredManifestSchema.omit({ base: true }).extend({ tenants: z.array(z.string().min(2)) }),
]);

/**
 * The last desired-state envelope this agent accepted, kept on disk as received (signature
 * and all; a manifest with all its tenants' texts) so that after a restart it can re-verify it and keep converging on it while the
 * coordinator is unreachable.
 */
export class DesiredFileStore {
  constructor(private readonly path: string) {}

  /** Atomic and durable: a crash leaves the old file or the new one, never a torn one. */
  async save(envelope: StoredEnvelope): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(envelope)}\n`, 0o600);
  }

  async load(): Promise<StoredEnvelope | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return storedSchema.parse(JSON.parse(text));
  }

  /**
   * The stored document, verified again (the file may have been edited): signature and node
   * are checked, and the generation only against a bound the caller keeps elsewhere (the
   * agent's mark), since this is the document its own count starts from. No age bound: the
   * agent keeps converging on what it accepted while the coordinator is away.
   */
  async loadVerified(
    options: Omit<VerifyOptions, 'lastGeneration' | 'maxAgeMs'> & { lastGeneration?: number },
  ): Promise<VerifiedDocument | undefined> {
    const envelope = await this.load();
    return envelope && verifyStored(envelope, { lastGeneration: -1, ...options });
  }
}

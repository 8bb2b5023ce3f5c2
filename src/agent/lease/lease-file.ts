import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { LeaseRecord } from '../../core/fence-watch.ts';
import { writeFileAtomic } from '../../drivers/fs/write-file-atomic.ts';

/** `<data-dir>/lease.json`: the agent's lease end, read by its fence watchdog. */
export const leaseFilePath = (dataDir: string): string => join(dataDir, 'lease.json');

const processIdSchema = z.strictObject({
  pid: z.number().int().positive(),
  startTime: z.number().int().nonnegative(),
});
const leaseRecordSchema = z.strictObject({
  agent: processIdSchema,
  expiresAt: z.number().int(),
});

/**
 * Written on every renewal, one write at a time; a write that fails is logged by the caller
 * and the next renewal writes again (the watchdog then acts on the older, earlier end).
 */
export class LeaseFile {
  private writing: Promise<void> = Promise.resolve();
  private latest: LeaseRecord | undefined;

  constructor(private readonly path: string) {}

  write(record: LeaseRecord): Promise<void> {
    this.latest = record;
    this.writing = this.writing
      .catch(() => undefined)
      .then(async () => {
        // Only the newest waiting record is written; older ones are already superseded.
        const next = this.latest;
        if (!next) return;
        this.latest = undefined;
        await writeFileAtomic(this.path, `${JSON.stringify(next)}\n`, 0o600);
      });
    return this.writing;
  }
}

/** The lease as written, or undefined when the file is missing or not one (torn never: atomic). */
export async function readLeaseFile(path: string): Promise<LeaseRecord | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const parsed = leaseRecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { wakeReportSchema } from '../../contract/requests.ts';
import { errorMessage } from '../../core/errors.ts';
import { writeFileAtomic } from '../../drivers/fs/write-file-atomic.ts';
import type { Logger } from '../../ports/logger.ts';
import type { UnreportedWake, WakeJournal } from './wake-admitter.ts';

const id = z.string().min(1).max(200);
const size = z
  .number()
  .int()
  .min(0)
  .max(1 << 30);

const wakeSchema = z.strictObject({
  ref: z.strictObject({ tenantId: id, poolId: id, instanceId: id }),
  // What the wake's report sends of it, checked as the report is (contract/requests.ts).
  ask: wakeReportSchema.pick({ port: true, from: true, source: true }),
  holder: z.strictObject({ key: z.string().min(1).max(400), vcpus: size, memMib: size }),
  // Absent in the files of agents before it (their wakes are reported with no age).
  admittedAt: z.iso.datetime().optional(),
  // The same moment on the host's monotonic clock (agent/wake/boot-time.ts); absent likewise.
  admittedOnBoot: z
    .strictObject({
      boot: z.string().min(1).max(64),
      ms: z
        .number()
        .min(0)
        .max(2 ** 53),
    })
    .optional(),
});

const fileSchema = z.strictObject({ wakes: z.array(wakeSchema).max(100_000) });

/** Where the agent keeps the wakes it admitted itself and has not reported yet. */
export const unreportedWakesPath = (dataDir: string): string =>
  join(dataDir, 'wake', 'unreported.json');

/**
 * The wakes a node admitted itself while the coordinator did not answer, kept in its data dir
 * (`<data-dir>/wake/unreported.json`, 0600, written whole: temp file, fsync, rename) until the
 * coordinator answers their reports, so an agent killed in between reports them after its
 * restart. A file that cannot be read as one is logged and taken as empty (written whole, it
 * is never torn): its wakes are not reported again, and the node's document may lower them.
 */
export function unreportedWakesFile(path: string, logger: Logger): WakeJournal {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
      try {
        return fileSchema.parse(JSON.parse(text)).wakes;
      } catch (error) {
        logger.warn(
          { path, error: errorMessage(error) },
          'unreported local wakes file is damaged: ignored (the wakes it held are not reported again)',
        );
        return [];
      }
    },
    save(wakes: readonly UnreportedWake[]) {
      return writeFileAtomic(path, `${JSON.stringify({ wakes })}\n`, 0o600);
    },
  };
}

import type { Readable } from 'node:stream';
import { isMvmError, UnavailableError } from '../../core/errors.ts';
import { MAX_MOVE_ATTEMPTS } from '../../core/instance-move.ts';
import type { BundleManifest } from '../../contract/move-bundle.ts';
import { receivedBytes, receivePart } from '../../drivers/move-bundle/bundle-receive.ts';

/** Opens a part of the source's bundle from a byte offset (a local file, an HTTP Range...). */
export type PartOpener = (name: string, offset: number) => Promise<Readable>;

export interface TransferReport {
  /** Bytes fetched in this call (not counting what was already held). */
  fetched: number;
  /** Parts dropped for a hash mismatch and fetched again. */
  refetched: string[];
}

/**
 * Fetches every part the target does not hold whole, each from the byte it holds, until all
 * check out. A stream cut short resumes where it stopped; a part that fails its sha256 is
 * fetched again from its start; a stream that fails resumes at what was written. Gives up after MAX_MOVE_ATTEMPTS tries without progress on a
 * part, with the last error.
 */
export async function transferBundle(
  manifest: BundleManifest,
  dir: string,
  open: PartOpener,
): Promise<TransferReport> {
  const report: TransferReport = { fetched: 0, refetched: [] };
  for (const part of manifest.parts) {
    let failures = 0;
    let held = await receivedBytes(dir, part);
    while (held < part.bytes) {
      const before = held;
      try {
        held = await receivePart(dir, part, held, await open(part.name, held));
      } catch (error) {
        // A part dropped for its hash starts again; a broken stream resumes where it broke.
        if (isMvmError(error) && error.details?.resumeAt === 0) report.refetched.push(part.name);
        held = await receivedBytes(dir, part);
        failures += 1;
        if (failures >= MAX_MOVE_ATTEMPTS) throw error;
        continue;
      }
      report.fetched += Math.max(held - before, 0);
      if (held === before) failures += 1;
      if (failures >= MAX_MOVE_ATTEMPTS) {
        throw new UnavailableError(
          `part '${part.name}' made no progress in ${failures} tries (${held} of ${part.bytes} bytes); try the move again later`,
          { part: part.name, resumeAt: held },
        );
      }
    }
  }
  return report;
}

import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { errorMessage, ValidationError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../drivers/fs/write-file-atomic.ts';

/** An instance's label (`tenant/pool/instance`) as the reconciler names it. */
const labelSchema = z.string().min(1).max(400);

const markSchema = z.strictObject({
  /** Instances a move is bringing here (this node is the target of a move under way). */
  importing: z.array(labelSchema).max(100_000),
  /** Instances handed over here, held until the time given (ISO) for the document to name them. */
  handedOver: z.record(labelSchema, z.string().min(1)),
  /** Instances leaving this node (it is the source of a move under way): not woken here. */
  outgoing: z.array(labelSchema).max(100_000).default([]),
});
export type IncomingMark = z.infer<typeof markSchema>;

export const NO_INCOMING: IncomingMark = { importing: [], handedOver: {}, outgoing: [] };

/**
 * The instances this agent must not tear down although its document does not name them (yet):
 * those it is importing and those just handed over to it. Kept in its data dir
 * (`<data-dir>/moves/incoming.json`), so an agent restarted between an import and the
 * hand-over (or before its first document naming the instance) keeps the imported copy instead
 * of destroying it in its first pass.
 */
export async function readIncomingMark(path: string): Promise<IncomingMark> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return NO_INCOMING;
    throw error;
  }
  try {
    return markSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new ValidationError(
      `the agent's incoming-move mark ${path} is damaged (${errorMessage(error)}); remove it once no move is under way to this node`,
    );
  }
}

/** Writes the mark whole (temp file and rename, 0600): a crash leaves the old or the new one. */
export function writeIncomingMark(path: string, mark: IncomingMark): Promise<void> {
  return writeFileAtomic(path, `${JSON.stringify(mark)}\n`, 0o600);
}

/** The labels the reconciler must leave alone at `now`: importing, or handed over and held. */
export function heldLabels(mark: IncomingMark, now: Date): Set<string> {
  const held = new Set(mark.importing);
  for (const [label, until] of Object.entries(mark.handedOver)) {
    if (Date.parse(until) > now.getTime()) held.add(label);
  }
  return held;
}

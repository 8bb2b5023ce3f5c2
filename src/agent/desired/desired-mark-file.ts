import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { advanceMark, NO_MARK, type DesiredMark } from '../../core/document-freshness.ts';
import { errorMessage, ValidationError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../drivers/fs/write-file-atomic.ts';

const markSchema = z.strictObject({
  generation: z.number().int().min(0),
  issuedAt: z.string().min(1).optional(),
  coordinatorGeneration: z.number().int().min(0),
});

/**
 * How far this agent has seen its node's documents (core/document-freshness.ts), kept in its
 * data dir apart from the document itself: a desired.json removed or put back from an older
 * copy does not move it back. Only a wiped data dir loses it (then the age bound and the
 * coordinator's generation at the next heartbeat are what refuse a replay).
 */
export class DesiredMarkFile {
  private mark: DesiredMark = NO_MARK;
  private writes: Promise<void> = Promise.resolve();

  private constructor(private readonly path: string) {}

  static async open(path: string): Promise<DesiredMarkFile> {
    const file = new DesiredMarkFile(path);
    file.mark = await readMark(path);
    return file;
  }

  get current(): DesiredMark {
    return this.mark;
  }

  /** Records an accepted document; durable before it returns. */
  accepted(stamp: { generation: number; issuedAt: string }): Promise<void> {
    return this.update(advanceMark(this.mark, stamp));
  }

  /** Records the generation the coordinator says it issued; a lower one changes nothing. */
  coordinatorIssued(generation: number): Promise<void> {
    if (generation <= this.mark.coordinatorGeneration) return this.writes;
    return this.update({ ...this.mark, coordinatorGeneration: generation });
  }

  private update(next: DesiredMark): Promise<void> {
    this.mark = next;
    // One write at a time, the last one winning: heartbeats and the watch both move it. A
    // failed write fails its caller only: the next one writes the whole mark again.
    const write = this.writes
      .catch(() => undefined)
      .then(() => writeFileAtomic(this.path, `${JSON.stringify(this.mark)}\n`, 0o600));
    this.writes = write;
    return write;
  }
}

async function readMark(path: string): Promise<DesiredMark> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return NO_MARK;
    throw error;
  }
  try {
    return markSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new ValidationError(
      `the agent's document mark ${path} is damaged (${errorMessage(error)}); remove it to start again from the coordinator's generation`,
    );
  }
}

/**
 * An instance's serial console file as a stream (the logs session, docs/exec.md): from the
 * start of its last `tail` lines to its end, and with `follow` on as it grows, until the
 * signal aborts. Reads happen only as the stream is read, so a client that reads slowly
 * holds the file where it is, not its bytes in memory.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

const CHUNK = 64 * 1024;
/** How often a followed console is checked for new bytes (a guest writes it, not mvm). */
export const FOLLOW_POLL_MS = 200;

export interface ConsoleStreamOptions {
  tail: number;
  follow: boolean;
  signal?: AbortSignal;
  pollMs?: number;
}

/** A console that does not exist yet (the VMM has not started) reads as empty. */
export async function openConsoleStream(
  path: string,
  options: ConsoleStreamOptions,
): Promise<Readable> {
  const file = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!file) return Readable.from([]);
  const { size } = await file.stat();
  const start = await tailStart(file, size, options.tail);
  return new ConsoleStream(file, start, options);
}

/** The offset of the first of the last `lines` lines; a final newline ends a line, not starts one. */
export async function tailStart(file: FileHandle, size: number, lines: number): Promise<number> {
  if (lines === 0) return size;
  let need = lines;
  let end = size;
  const buffer = Buffer.alloc(CHUNK);
  while (end > 0) {
    const from = Math.max(0, end - CHUNK);
    const { bytesRead } = await file.read(buffer, 0, end - from, from);
    for (let i = bytesRead - 1; i >= 0; i--) {
      const at = from + i;
      if (buffer[i] === 0x0a && at !== size - 1 && --need === 0) return at + 1;
    }
    end = from;
  }
  return 0;
}

class ConsoleStream extends Readable {
  private timer: NodeJS.Timeout | undefined;
  private reading = false;
  private stopped = false;
  private ended = false;

  constructor(
    private readonly file: FileHandle,
    private position: number,
    private readonly options: ConsoleStreamOptions,
  ) {
    super({ highWaterMark: CHUNK });
    options.signal?.addEventListener('abort', () => this.stop(), { once: true });
    if (options.signal?.aborted) this.stop();
  }

  override _read(): void {
    if (this.reading || this.timer) return;
    this.reading = true;
    void this.readSome()
      .catch((error: unknown) => this.destroy(error as Error))
      .finally(() => (this.reading = false));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.file.close().then(
      () => callback(error),
      () => callback(error),
    );
  }

  private async readSome(): Promise<void> {
    if (this.destroyed || this.ended) return;
    const buffer = Buffer.alloc(CHUNK);
    const { bytesRead } = await this.file.read(buffer, 0, CHUNK, this.position);
    if (this.stopped) return this.finish();
    if (bytesRead > 0) {
      this.position += bytesRead;
      this.push(buffer.subarray(0, bytesRead));
      return;
    }
    if (!this.options.follow) return this.finish();
    // A console started again from empty (the instance was recreated) is read from its start.
    const { size } = await this.file.stat();
    if (size < this.position) this.position = 0;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this._read();
    }, this.options.pollMs ?? FOLLOW_POLL_MS);
  }

  /** Aborted: ends after the read in flight, if any (nothing may follow the end). */
  private stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.reading) this.finish();
  }

  private finish(): void {
    if (this.ended || this.destroyed) return;
    this.ended = true;
    this.push(null);
  }
}

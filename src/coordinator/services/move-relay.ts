import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  ConflictError,
  NotFoundError,
  UnavailableError,
  ValidationError,
} from '../../core/errors.ts';
import type { InstanceMove } from '../../core/instance-move.ts';
import { bundlePartSchema, type BundlePartManifest } from '../../contract/move-bundle.ts';
import { receivedBytes, receivePart } from '../../drivers/move-bundle/bundle-receive.ts';
import { partFile } from '../../drivers/move-bundle/bundle-export.ts';
import type { MoveReportService } from './move-report-service.ts';
import { bytesResponse } from './node-artifact-service.ts';

export interface PartHeld {
  part: string;
  /** Bytes of the part the coordinator holds (checked against its sha256 once whole). */
  held: number;
  whole: boolean;
}

/**
 * Bytes of one move's parts the relay holds at once, not yet received by its target, before it
 * refuses to start another part: a part is always taken when nothing else is held, so one
 * move holds at most this or its largest part, whichever is more.
 */
export const MOVE_RELAY_MAX_BYTES = 1024 * 1024 * 1024;

/** The target holds the part whole and checked: the relay has no use for it any more. */
const delivered = (move: InstanceMove, part: { name: string; bytes: number }) =>
  (move.received[part.name] ?? 0) >= part.bytes;

/**
 * The coordinator relays a move's bundle: its source uploads each part (resuming at the bytes
 * held; a whole part is kept only if its sha256 matches) and its target fetches the parts held
 * whole, with Range to resume. Only the move's source may upload and only its target may
 * fetch, while the move is transferring. What it holds is bounded: a part the target reported
 * received whole is dropped at the source's next upload (and not taken again), and a new part
 * is refused while the move's other parts held would pass `maxHeldBytes` (the source uploads
 * it on a later pass, once the target has fetched them). The rest is dropped once the move is
 * done or failed.
 */
export class MoveRelay {
  constructor(
    private readonly moves: Pick<MoveReportService, 'of'>,
    private readonly dir: string | undefined,
    private readonly maxHeldBytes = MOVE_RELAY_MAX_BYTES,
  ) {}

  private dirOf(move: InstanceMove): string {
    if (this.dir === undefined) {
      throw new UnavailableError('this coordinator keeps no data dir, so it cannot relay moves');
    }
    return join(this.dir, move.id);
  }

  private async partOf(
    nodeId: string,
    moveId: string,
    name: string,
    side: 'source' | 'target',
  ): Promise<{ move: InstanceMove; part: BundlePartManifest }> {
    const { move, side: actual } = await this.moves.of(nodeId, moveId);
    if (actual !== side) {
      throw new ConflictError(
        `only the ${side} of move ${moveId} ${side === 'source' ? 'uploads' : 'fetches'} its parts`,
      );
    }
    if (move.step !== 'transferring') {
      throw new ConflictError(`move ${moveId} is ${move.step}, not transferring`, {
        step: move.step,
      });
    }
    const stored = move.parts?.find((p) => p.name === name);
    if (!stored) throw new NotFoundError('bundle part', name, `move ${moveId} has no such part`);
    return { move, part: bundlePartSchema.parse(stored) };
  }

  async put(
    nodeId: string,
    moveId: string,
    name: string,
    offset: number,
    body: ReadableStream<Uint8Array> | null,
  ): Promise<PartHeld> {
    const { move, part } = await this.partOf(nodeId, moveId, name, 'source');
    if (!body) throw new ValidationError('the part comes as the request body');
    const dir = this.dirOf(move);
    if (delivered(move, part)) {
      await body.cancel();
      return { part: name, held: part.bytes, whole: true };
    }
    await this.dropDelivered(dir, move);
    await this.checkRoom(dir, move, part);
    const source = Readable.fromWeb(body as Parameters<typeof Readable.fromWeb>[0]);
    const held = await receivePart(dir, part, offset, source);
    return { part: name, held, whole: held === part.bytes };
  }

  /** Removes the parts of the move its target reported received whole. */
  private async dropDelivered(dir: string, move: InstanceMove): Promise<void> {
    for (const p of move.parts ?? []) {
      if (!delivered(move, p)) continue;
      await rm(partFile(dir, p.name), { force: true });
      await rm(`${partFile(dir, p.name)}.partial`, { force: true });
    }
  }

  /** A part not begun yet waits while the move's other parts held fill the relay's bound. */
  private async checkRoom(dir: string, move: InstanceMove, part: BundlePartManifest) {
    if ((await receivedBytes(dir, part)) > 0) return; // begun: it resumes
    let held = 0;
    for (const p of move.parts ?? []) {
      if (p.name !== part.name) held += await receivedBytes(dir, bundlePartSchema.parse(p));
    }
    if (held === 0 || held + part.bytes <= this.maxHeldBytes) return;
    throw new ConflictError(
      `the relay holds ${held} bytes of move ${move.id} its target has not fetched yet (bound ${this.maxHeldBytes}): upload part '${part.name}' once it has`,
      { part: part.name, waitForTarget: true, retryAfterSeconds: 2 },
    );
  }

  async get(nodeId: string, moveId: string, name: string, range: string | undefined) {
    const { move, part } = await this.partOf(nodeId, moveId, name, 'target');
    const path = partFile(this.dirOf(move), name);
    const size = await stat(path).then(
      (s) => s.size,
      () => -1,
    );
    if (size !== part.bytes) {
      throw new ConflictError(
        `part '${name}' of move ${moveId} is not here whole yet (the source is uploading it); ask again`,
        { part: name, retryAfterSeconds: 1 },
      );
    }
    return bytesResponse(path, size, range, { 'x-mvm-sha256': part.sha256 });
  }

  /** Drops what was relayed for a finished move. */
  async drop(move: InstanceMove): Promise<void> {
    if (this.dir !== undefined) await rm(join(this.dir, move.id), { recursive: true, force: true });
  }
}

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
import { receivePart } from '../../drivers/move-bundle/bundle-receive.ts';
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
 * The coordinator relays a move's bundle: its source uploads each part (resuming at the bytes
 * held; a whole part is kept only if its sha256 matches) and its target fetches the parts held
 * whole, with Range to resume. Only the move's source may upload and only its target may
 * fetch, while the move is transferring. The parts are dropped once the move is done or failed.
 */
export class MoveRelay {
  constructor(
    private readonly moves: Pick<MoveReportService, 'of'>,
    private readonly dir: string | undefined,
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
    const source = Readable.fromWeb(body as Parameters<typeof Readable.fromWeb>[0]);
    const held = await receivePart(this.dirOf(move), part, offset, source);
    return { part: name, held, whole: held === part.bytes };
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

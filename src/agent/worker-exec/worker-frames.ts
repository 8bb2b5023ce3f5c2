import type { Readable } from 'node:stream';
import { MAX_WORKER_FRAME, WORKER_FRAME_HEADER } from '../../contract/worker-exec.ts';

export interface WorkerFrameData {
  type: number;
  id: number;
  payload: Buffer;
}

/** One frame to the guest's broker: [type u8][id u32 BE][len u32 BE][payload]. */
export function encodeWorkerFrame(
  type: number,
  id: number,
  payload: Uint8Array = new Uint8Array(),
) {
  const header = Buffer.alloc(WORKER_FRAME_HEADER);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(id, 1);
  header.writeUInt32BE(payload.length, 5);
  return Buffer.concat([header, payload]);
}

/**
 * The broker's frames from its stdout. The guest is hostile: a frame declaring more than
 * MAX_WORKER_FRAME ends the stream with an error, so at most one frame is ever buffered.
 */
export async function* workerFrames(stream: Readable): AsyncGenerator<WorkerFrameData> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of stream) {
    pending = pending.length === 0 ? (chunk as Buffer) : Buffer.concat([pending, chunk as Buffer]);
    while (pending.length >= WORKER_FRAME_HEADER) {
      const length = pending.readUInt32BE(5);
      if (length > MAX_WORKER_FRAME) {
        throw new Error(`a worker frame of ${length} bytes (at most ${MAX_WORKER_FRAME})`);
      }
      if (pending.length < WORKER_FRAME_HEADER + length) break;
      yield {
        type: pending.readUInt8(0),
        id: pending.readUInt32BE(1),
        payload: pending.subarray(WORKER_FRAME_HEADER, WORKER_FRAME_HEADER + length),
      };
      pending = pending.subarray(WORKER_FRAME_HEADER + length);
    }
  }
}

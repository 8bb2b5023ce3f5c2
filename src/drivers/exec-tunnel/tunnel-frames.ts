import { ValidationError } from '../../core/errors.ts';
import { TUNNEL_HEADER_BYTES, TunnelFrame } from '../../contract/exec.ts';
import type { TunnelFrameType } from '../../contract/exec.ts';

/** One decoded tunnel frame (see TunnelFrame in contract/exec.ts). */
export interface TunnelFrameData {
  type: TunnelFrameType;
  stream: number;
  payload: Buffer;
}

const TYPES = new Set<number>(Object.values(TunnelFrame));

export function encodeTunnelFrame(
  type: TunnelFrameType,
  stream: number,
  payload: Uint8Array = Buffer.alloc(0),
): Buffer {
  const frame = Buffer.allocUnsafe(TUNNEL_HEADER_BYTES + payload.length);
  frame.writeUInt8(type, 0);
  frame.writeUInt32BE(stream, 1);
  frame.set(payload, TUNNEL_HEADER_BYTES);
  return frame;
}

export function encodeTunnelJson(stream: number, message: object): Buffer {
  return encodeTunnelFrame(TunnelFrame.control, stream, Buffer.from(JSON.stringify(message)));
}

export function encodeTunnelCredit(stream: number, bytes: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(bytes, 0);
  return encodeTunnelFrame(TunnelFrame.credit, stream, payload);
}

/** Throws ValidationError for a message no peer of ours sends (short, unknown type, bad credit). */
export function decodeTunnelFrame(message: Buffer): TunnelFrameData {
  if (message.length < TUNNEL_HEADER_BYTES) {
    throw new ValidationError(`tunnel frame of ${message.length} bytes is shorter than its header`);
  }
  const type = message.readUInt8(0);
  if (!TYPES.has(type)) throw new ValidationError(`unknown tunnel frame type ${type}`);
  const payload = message.subarray(TUNNEL_HEADER_BYTES);
  if (type === TunnelFrame.credit && payload.length !== 4) {
    throw new ValidationError(`tunnel credit frame with ${payload.length} payload bytes, not 4`);
  }
  return { type: type as TunnelFrameType, stream: message.readUInt32BE(1), payload };
}

/** The u32 of a credit frame's payload. */
export const creditOf = (payload: Buffer): number => payload.readUInt32BE(0);

/** A JSON payload, or a ValidationError saying what was wrong with it. */
export function jsonOf(payload: Buffer | string): unknown {
  try {
    return JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8')) as unknown;
  } catch (error) {
    throw new ValidationError(`malformed JSON in a session message: ${(error as Error).message}`);
  }
}

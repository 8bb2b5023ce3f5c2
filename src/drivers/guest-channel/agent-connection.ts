import type { Socket } from 'node:net';
import { HostError, UnavailableError, ValidationError } from '../../core/errors.ts';
import type { MvmError } from '../../core/errors.ts';
import {
  ErrorAnswerSchema,
  FrameType,
  MAX_HOST_PAYLOAD,
} from '../../contract/guest-protocol-v2.ts';
import type { GuestAgentInfo } from '../../contract/guest-protocol-v2.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';
import { currentRequestId } from '../request-context.ts';
import { encodeJsonFrame, FrameDecoder, FramingError } from './frame-codec.ts';
import type { Frame } from './frame-codec.ts';
import { helloInfo, sayHello } from './guest-hello.ts';
import type { GuestTransport } from './guest-transport.ts';
import { DEFAULT_INGRESS, IngressLimit } from './ingress-limit.ts';
import type { IngressBudget } from './ingress-limit.ts';

/** Receives the frames of one stream (a request or a session) and the connection's end. */
export interface StreamHandler {
  onFrame(frame: Frame): void;
  onClose(error: Error): void;
}

export interface OpenOptions {
  /**
   * How long the hello may take once the stream is open. A guest still inside half a frame
   * of an earlier host (virtio-serial keeps one byte stream) finds the hello after 2 s.
   */
  timeoutMs: number;
  logger?: Logger;
  /** Told once when the guest lies (broken framing, a stalled frame, garbage answers). */
  onViolation?: (reason: string) => void;
  /** What this channel may cost the agent; default DEFAULT_INGRESS. */
  ingress?: IngressBudget;
  /** How long the rest of a begun frame may take to arrive (default 5 s). */
  frameStallMs?: number;
}

/** A version-1 line longer than this is no answer the busybox agent would send. */
export const MAX_V1_LINE = 64 * 1024;
const DEFAULT_FRAME_STALL_MS = 5_000;

/**
 * One open channel to a guest agent after the hello: frames (version 2) or NDJSON lines
 * (version 1, the busybox agent of older images, which answers hello with "unknown op").
 * Streams are keyed by id; a closed channel ends every stream with the same error.
 */
export class AgentConnection {
  private readonly streams = new Map<number, StreamHandler>();
  private readonly decoder = new FrameDecoder();
  private lineBuffer = '';
  private nextId: number;
  private closedWith: Error | undefined;
  private readonly log: Logger;
  readonly ingress: IngressLimit;
  private paused: NodeJS.Timeout | undefined;
  private stall: NodeJS.Timeout | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly info: GuestAgentInfo,
    readonly describe: string,
    firstId: number,
    private readonly options: OpenOptions,
  ) {
    this.nextId = firstId;
    this.log = options.logger ?? silentLogger;
    this.ingress = new IngressLimit(options.ingress ?? DEFAULT_INGRESS);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.log.debug({ error: error.message }, 'guest channel error'));
    socket.on('close', () => this.end(new UnavailableError(`guest channel ${describe} closed`)));
  }

  /** Opens the transport and says hello; the answer tells which protocol follows. */
  static async open(transport: GuestTransport, options: OpenOptions): Promise<AgentConnection> {
    const socket = await transport.open(Math.min(options.timeoutMs, 2_000));
    try {
      const helloId = 1 + Math.floor(Math.random() * 2 ** 30);
      const { answer, rest } = await sayHello(socket, helloId, options.timeoutMs);
      const info = helloInfo(answer);
      const conn = new AgentConnection(socket, info, transport.describe, helloId + 1, options);
      if (rest.length > 0) conn.onData(rest);
      socket.resume();
      return conn;
    } catch (error) {
      socket.destroy();
      throw error;
    }
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** A fresh stream id; the handler gets every frame on it until released. */
  openStream(handler: StreamHandler): number {
    if (this.closedWith) throw this.closedWith;
    const id = this.nextId;
    this.nextId = this.nextId >= 0xfffffff0 ? 1 : this.nextId + 1;
    this.streams.set(id, handler);
    return id;
  }

  release(id: number): void {
    this.streams.delete(id);
  }

  /** Writes a frame; false when the socket's buffer is full (wait for `drained`). */
  send(frame: Buffer): boolean {
    if (this.closedWith) throw this.closedWith;
    return this.socket.write(frame);
  }

  drained(): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        this.socket.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.socket.off('drain', onDrain);
        reject(this.closedWith ?? new UnavailableError(`guest channel ${this.describe} closed`));
      };
      this.socket.once('drain', onDrain);
      this.socket.once('close', onClose);
    });
  }

  /** One request, one answer (ok:true object); an ok:false answer becomes an MvmError. */
  request(
    op: string,
    body: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    const rid = this.requestIdToSend();
    return new Promise((resolve, reject) => {
      // A closed channel refuses before any timer exists (a timer left behind would fire on
      // an id never assigned).
      if (this.closedWith) throw this.closedWith;
      const timer = setTimeout(() => {
        this.release(id);
        reject(
          new UnavailableError(
            `guest agent on ${this.describe} did not answer '${op}' in ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const id = this.openStream({
        onFrame: (frame) => {
          if (frame.type !== FrameType.resp) return;
          clearTimeout(timer);
          this.release(id);
          const answer = parseJson(frame.payload);
          if (answer === undefined) {
            this.violation(`its answer to '${op}' is not JSON`);
            reject(this.closedWith ?? guestError(op, answer));
            return;
          }
          if (rid !== undefined) {
            // The guest's echo is compared, never logged: it is the guest's text.
            const echoed = answer['rid'] === rid;
            this.log.info({ requestId: rid, op, echoed }, 'guest agent answered');
          }
          settleAnswer(op, answer, resolve, reject);
        },
        onClose: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.write(op, id, body);
    });
  }

  /** Sends a request without waiting; its answer goes to the stream's handler. */
  write(op: string, id: number, body: Record<string, unknown>): void {
    if (this.info.proto === 1) {
      this.send(Buffer.from(`${JSON.stringify({ id, op, ...body })}\n`));
      return;
    }
    const rid = this.requestIdToSend();
    const request = rid === undefined ? { op, ...body } : { op, ...body, rid };
    const frame = encodeJsonFrame(FrameType.req, id, request);
    if (frame.length - 10 > MAX_HOST_PAYLOAD) {
      throw new ValidationError(`the '${op}' request is larger than ${MAX_HOST_PAYLOAD} bytes`);
    }
    this.send(frame);
  }

  /**
   * The id of the request this work is done for (request-context.ts), sent as `rid` to a guest
   * agent that says it takes one (capability `rid`, agent 2.3.0): an older one never gets it.
   */
  private requestIdToSend(): string | undefined {
    return this.info.caps.includes('rid') ? currentRequestId() : undefined;
  }

  close(error: Error = new HostError(`guest channel ${this.describe} closed by us`)): void {
    this.end(error);
    this.socket.destroy();
  }

  /**
   * The guest broke the protocol: nothing it sends on this channel can be believed any more.
   * Said once to the owner (who fails the instance), then the channel is dropped.
   */
  violation(reason: string): void {
    if (this.closedWith) return;
    this.log.warn({ channel: this.describe, reason }, 'guest agent broke the protocol');
    this.options.onViolation?.(reason);
    this.close(new HostError(`guest agent on ${this.describe} broke the protocol: ${reason}`));
  }

  private end(error: Error): void {
    if (this.closedWith) return;
    this.closedWith = error;
    clearTimeout(this.paused);
    clearTimeout(this.stall);
    const handlers = [...this.streams.values()];
    this.streams.clear();
    for (const handler of handlers) handler.onClose(error);
  }

  private onData(chunk: Buffer): void {
    if (this.closedWith) return;
    if (this.info.proto === 1) {
      this.onLines(chunk.toString('utf8'));
      this.throttle(chunk.length, 0);
      return;
    }
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.violation(error instanceof FramingError ? error.message : String(error));
      return;
    }
    for (const frame of frames) this.route(frame);
    this.throttle(chunk.length, frames.length);
    this.watchStall(frames.length > 0);
  }

  /** Over its budget, the channel is not read until the bucket refills (ingress-limit.ts). */
  private throttle(bytes: number, frames: number): void {
    const waitMs = this.ingress.charge(bytes, frames);
    if (waitMs === 0 || this.closedWith || this.paused) return;
    this.socket.pause();
    this.paused = setTimeout(() => {
      this.paused = undefined;
      if (this.closedWith) return;
      this.socket.resume();
      this.watchStall(true);
    }, waitMs);
  }

  /**
   * A begun frame must be finished within frameStallMs of reading time (a pause of ours does
   * not count): a guest that sends a header and then nothing holds no host request hostage.
   */
  private watchStall(progressed: boolean): void {
    const pending = this.decoder.pendingBytes;
    if (pending === 0 || progressed || this.paused) {
      clearTimeout(this.stall);
      this.stall = undefined;
    }
    if (pending === 0 || this.stall || this.paused || this.closedWith) return;
    const stallMs = this.options.frameStallMs ?? DEFAULT_FRAME_STALL_MS;
    this.stall = setTimeout(() => {
      this.stall = undefined;
      this.violation(
        `it began a frame (${this.decoder.pendingBytes} bytes so far) and sent nothing more for ${stallMs} ms`,
      );
    }, stallMs);
  }

  private route(frame: Frame): void {
    const handler = this.streams.get(frame.stream);
    if (handler) {
      handler.onFrame(frame);
      return;
    }
    if (frame.type === FrameType.resp && frame.stream === 0) {
      this.log.warn({ answer: frame.payload.toString('utf8').slice(0, 200) }, 'guest agent error');
    }
  }

  /** Version 1: one JSON object per line, routed by its id as if it were a resp frame. */
  private onLines(text: string): void {
    this.lineBuffer += text;
    if (this.lineBuffer.length > MAX_V1_LINE && !this.lineBuffer.includes('\n')) {
      this.violation(`it sent a line of more than ${MAX_V1_LINE} bytes`);
      return;
    }
    for (let nl = this.lineBuffer.indexOf('\n'); nl >= 0; nl = this.lineBuffer.indexOf('\n')) {
      const line = this.lineBuffer.slice(0, nl).trim();
      this.lineBuffer = this.lineBuffer.slice(nl + 1);
      const parsed = line ? parseJson(Buffer.from(line)) : undefined;
      const id = typeof parsed?.['id'] === 'number' ? parsed['id'] : undefined;
      if (id === undefined) continue;
      this.route({ type: FrameType.resp, stream: id, payload: Buffer.from(line) });
    }
  }
}

function parseJson(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return undefined;
  }
}

function settleAnswer(
  op: string,
  answer: Record<string, unknown> | undefined,
  resolve: (value: Record<string, unknown>) => void,
  reject: (error: Error) => void,
): void {
  if (answer?.['ok'] === true) resolve(answer);
  else reject(guestError(op, answer));
}

/** A refusal from the guest, as the error callers map: bad input, missing, or a host failure. */
export function guestError(op: string, answer: Record<string, unknown> | undefined): MvmError {
  const parsed = ErrorAnswerSchema.safeParse(answer);
  const message = parsed.success ? parsed.data.error : 'malformed answer';
  const code = parsed.success ? parsed.data.code : 'malformed';
  const text = `guest agent refused '${op}': ${message}`;
  if (code === 'bad_request') return new ValidationError(text);
  return new HostError(text, { op, guestCode: code });
}

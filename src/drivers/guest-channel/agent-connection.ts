import type { Socket } from 'node:net';
import { HostError, UnavailableError, ValidationError } from '../../core/errors.ts';
import type { MvmError } from '../../core/errors.ts';
import {
  ErrorAnswerSchema,
  FrameType,
  GUEST_V1_INFO,
  HelloResponseSchema,
  MAX_HOST_PAYLOAD,
} from '../../contract/guest-protocol-v2.ts';
import type { GuestAgentInfo } from '../../contract/guest-protocol-v2.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';
import { encodeJsonFrame, findHelloAnswer, FrameDecoder, FramingError } from './frame-codec.ts';
import type { Frame } from './frame-codec.ts';
import type { GuestTransport } from './guest-transport.ts';

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
}

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

  private constructor(
    private readonly socket: Socket,
    readonly info: GuestAgentInfo,
    readonly describe: string,
    firstId: number,
    logger: Logger,
  ) {
    this.nextId = firstId;
    this.log = logger;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.log.debug({ error: error.message }, 'guest channel error'));
    socket.on('close', () => this.end(new UnavailableError(`guest channel ${describe} closed`)));
  }

  /** Opens the transport and says hello; the answer tells which protocol follows. */
  static async open(transport: GuestTransport, options: OpenOptions): Promise<AgentConnection> {
    const socket = await transport.open(Math.min(options.timeoutMs, 2_000));
    try {
      const helloId = 1 + Math.floor(Math.random() * 2 ** 30);
      const { answer, rest } = await sayHello(socket, helloId, options);
      const info = helloInfo(answer);
      const conn = new AgentConnection(
        socket,
        info,
        transport.describe,
        helloId + 1,
        options.logger ?? silentLogger,
      );
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
    return new Promise((resolve, reject) => {
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
          settleAnswer(op, parseJson(frame.payload), resolve, reject);
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
    const frame = encodeJsonFrame(FrameType.req, id, { op, ...body });
    if (frame.length - 10 > MAX_HOST_PAYLOAD) {
      throw new ValidationError(`the '${op}' request is larger than ${MAX_HOST_PAYLOAD} bytes`);
    }
    this.send(frame);
  }

  close(error: Error = new HostError(`guest channel ${this.describe} closed by us`)): void {
    this.end(error);
    this.socket.destroy();
  }

  private end(error: Error): void {
    if (this.closedWith) return;
    this.closedWith = error;
    const handlers = [...this.streams.values()];
    this.streams.clear();
    for (const handler of handlers) handler.onClose(error);
  }

  private onData(chunk: Buffer): void {
    if (this.info.proto === 1) {
      this.onLines(chunk.toString('utf8'));
      return;
    }
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      const why = error instanceof FramingError ? error.message : String(error);
      this.log.warn({ why }, 'guest agent broke framing; dropping the channel');
      this.close(new UnavailableError(`guest channel ${this.describe}: ${why}`));
      return;
    }
    for (const frame of frames) this.route(frame);
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

function sayHello(
  socket: Socket,
  id: number,
  options: OpenOptions,
): Promise<{ answer: Record<string, unknown>; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const done = (error?: Error, found?: ReturnType<typeof findHelloAnswer>): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (found) resolve(found);
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const found = findHelloAnswer(received, id);
      if (found) done(undefined, found);
    };
    const onClose = (): void => done(new UnavailableError('guest channel closed during hello'));
    const timer = setTimeout(
      () => done(new UnavailableError(`no hello answer in ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
    socket.write(`${JSON.stringify({ id, op: 'hello', proto: 2 })}\n`);
  });
}

function helloInfo(answer: Record<string, unknown>): GuestAgentInfo {
  if (answer['ok'] === false) return GUEST_V1_INFO;
  const hello = HelloResponseSchema.safeParse(answer);
  if (!hello.success) {
    throw new HostError(`guest agent sent a malformed hello: ${hello.error.message}`);
  }
  const { proto, agent, version, caps } = hello.data;
  return { proto: proto >= 2 ? 2 : 1, agent, version, caps };
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

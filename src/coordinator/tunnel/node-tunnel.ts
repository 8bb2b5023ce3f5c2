import type { WebSocket } from 'ws';
import { errorMessage, UnavailableError, type MvmError } from '../../core/errors.ts';
import {
  serverMessageSchema,
  TunnelFrame,
  type ServerMessage,
  type SessionStart,
  type TunnelRequest,
} from '../../contract/exec.ts';
import type { InstanceRef } from '../../core/ids.ts';
import {
  creditOf,
  decodeTunnelFrame,
  encodeTunnelCredit,
  encodeTunnelFrame,
  encodeTunnelJson,
  jsonOf,
  type TunnelFrameData,
} from '../../drivers/exec-tunnel/tunnel-frames.ts';
import type { Logger } from '../../ports/logger.ts';

/** What the agent sends on one stream, handed to whoever opened it. */
export interface StreamEvents {
  /** started, exit or error: the last two end the stream. */
  message(message: ServerMessage): void;
  data(channel: 'stdout' | 'stderr', bytes: Buffer): void;
  /** More input the agent takes. */
  credit(bytes: number): void;
  /** The tunnel closed before the session ended. */
  lost(error: MvmError): void;
}

/** The coordinator's end of one session on a node's tunnel. */
export interface TunnelStream {
  readonly id: number;
  stdin(bytes: Buffer): void;
  /** More output the client takes. */
  credit(bytes: number): void;
  request(message: Exclude<TunnelRequest, { type: 'open' }>): void;
  /** Cancels the session and forgets it: nothing more is delivered. */
  cancel(): void;
  /** What the tunnel socket holds unsent (all of the node's sessions). */
  readonly bufferedAmount: number;
}

/**
 * One node's tunnel: the WebSocket its agent opened to this coordinator, carrying many
 * sessions at once as framed streams (docs/exec.md). A session ends with the agent's exit or
 * error message, a cancel from this side, or the tunnel's end.
 */
export class NodeTunnel {
  private readonly streams = new Map<number, StreamEvents>();
  private nextId = 1;
  private closedWith: MvmError | undefined;

  constructor(
    readonly nodeId: string,
    private readonly socket: WebSocket,
    private readonly logger: Logger,
  ) {
    socket.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    socket.on('close', () =>
      this.end(new UnavailableError(`the tunnel of node '${nodeId}' closed during the session`)),
    );
    socket.on('error', (error) =>
      logger.warn({ nodeId, error: error.message }, 'node tunnel error'),
    );
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  get sessions(): number {
    return this.streams.size;
  }

  open(ref: InstanceRef, session: SessionStart, events: StreamEvents): TunnelStream {
    if (this.closedWith) throw this.closedWith;
    const id = this.nextId++;
    const socket = this.socket;
    this.streams.set(id, events);
    this.send(encodeTunnelJson(id, { type: 'open', ref, session }));
    return {
      id,
      stdin: (bytes) => this.send(encodeTunnelFrame(TunnelFrame.stdin, id, bytes)),
      credit: (bytes) => this.send(encodeTunnelCredit(id, bytes)),
      request: (message) => this.send(encodeTunnelJson(id, message)),
      cancel: () => {
        if (this.streams.delete(id)) this.send(encodeTunnelJson(id, { type: 'cancel' }));
      },
      get bufferedAmount() {
        return socket.bufferedAmount;
      },
    };
  }

  /** Ends the tunnel (replaced by a newer one, or the coordinator stops). */
  close(code: number, reason: string): void {
    this.socket.close(code, reason);
    this.end(new UnavailableError(`the tunnel of node '${this.nodeId}' closed: ${reason}`));
  }

  private send(frame: Buffer): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(frame);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    try {
      if (!isBinary) throw new Error('a text message on the tunnel');
      this.dispatch(decodeTunnelFrame(data));
    } catch (error) {
      // A peer that breaks the framing cannot be resynchronised: it reconnects.
      this.logger.warn({ nodeId: this.nodeId, error: errorMessage(error) }, 'bad tunnel frame');
      this.close(1002, 'protocol error');
    }
  }

  private dispatch(frame: TunnelFrameData): void {
    const events = this.streams.get(frame.stream);
    // Frames of a session that just ended (or was cancelled) are a normal race.
    if (!events) return;
    switch (frame.type) {
      case TunnelFrame.control: {
        const message = serverMessageSchema.parse(jsonOf(frame.payload));
        if (message.type === 'credit') return events.credit(message.bytes);
        if (message.type === 'exit' || message.type === 'error') this.streams.delete(frame.stream);
        events.message(message);
        return;
      }
      case TunnelFrame.stdout:
        return events.data('stdout', frame.payload);
      case TunnelFrame.stderr:
        return events.data('stderr', frame.payload);
      case TunnelFrame.credit:
        return events.credit(creditOf(frame.payload));
      default:
        throw new Error(`frame type ${frame.type} does not go from agent to coordinator`);
    }
  }

  private end(error: MvmError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const events of streams) events.lost(error);
  }
}

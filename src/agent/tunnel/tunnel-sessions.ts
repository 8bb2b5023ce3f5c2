import { TunnelFrame, tunnelRequestSchema, type ServerMessage } from '../../contract/exec.ts';
import { ValidationError } from '../../core/errors.ts';
import { sessionError } from '../../drivers/exec-tunnel/session-error.ts';
import {
  creditOf,
  encodeTunnelCredit,
  encodeTunnelFrame,
  encodeTunnelJson,
  jsonOf,
  type TunnelFrameData,
} from '../../drivers/exec-tunnel/tunnel-frames.ts';
import type { Logger } from '../../ports/logger.ts';
import { GuestSession, type SessionOut } from './guest-session.ts';
import type { GuestSessions } from './guest-sessions.ts';

/**
 * The sessions of one tunnel connection, by stream id: opens them on the coordinator's
 * request, hands each its frames, and ends them all when the connection goes (the guest then
 * kills what they ran).
 */
export class TunnelSessions {
  private readonly sessions = new Map<number, GuestSession>();

  constructor(
    private readonly guests: GuestSessions,
    private readonly send: (frame: Buffer) => void,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Throws on a frame that breaks the framing (the connection is then dropped). */
  onFrame(frame: TunnelFrameData): void {
    const session = this.sessions.get(frame.stream);
    switch (frame.type) {
      case TunnelFrame.control:
        return this.onControl(frame.stream, jsonOf(frame.payload));
      case TunnelFrame.stdin:
        return session?.stdin(frame.payload);
      case TunnelFrame.credit:
        return session?.credit(creditOf(frame.payload));
      default:
        throw new ValidationError(`frame type ${frame.type} does not go to the agent`);
    }
  }

  /** The connection is gone: every session is cancelled. */
  cancelAll(): void {
    for (const session of this.sessions.values()) session.cancel();
    this.sessions.clear();
  }

  private onControl(stream: number, json: unknown): void {
    const parsed = tunnelRequestSchema.safeParse(json);
    if (!parsed.success) {
      // A request this agent does not understand (a newer coordinator): refuse that session only.
      const error = new ValidationError(
        `the agent cannot run this session: ${parsed.error.message}`,
      );
      this.sendTo(stream, { type: 'error', error: sessionError(error) });
      return;
    }
    const request = parsed.data;
    if (request.type !== 'open') return this.sessions.get(stream)?.request(request);
    if (this.sessions.has(stream)) throw new ValidationError(`stream ${stream} is open already`);
    const session = new GuestSession(this.guests, request.ref, request.session, this.out(stream));
    this.sessions.set(stream, session);
    this.logger.debug({ stream, kind: request.session.kind, ...request.ref }, 'session open');
    void session.run().finally(() => {
      this.sessions.delete(stream);
      this.logger.debug({ stream, ...session.figures }, 'session ended');
    });
  }

  private out(stream: number): SessionOut {
    return {
      message: (message) => this.sendTo(stream, message),
      data: (channel, bytes) =>
        this.send(
          encodeTunnelFrame(
            channel === 'stdout' ? TunnelFrame.stdout : TunnelFrame.stderr,
            stream,
            bytes,
          ),
        ),
      credit: (bytes) => this.send(encodeTunnelCredit(stream, bytes)),
    };
  }

  private sendTo(stream: number, message: ServerMessage): void {
    this.send(encodeTunnelJson(stream, message));
  }
}

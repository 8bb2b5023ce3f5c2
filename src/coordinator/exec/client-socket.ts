import type { WebSocket } from 'ws';
import {
  errorMessage,
  isMvmError,
  UnavailableError,
  ValidationError,
  type MvmError,
} from '../../core/errors.ts';
import { sessionError } from '../../drivers/exec-tunnel/session-error.ts';
import {
  Channel,
  clientMessageSchema,
  type ClientMessage,
  type ServerMessage,
  type SessionStart,
} from '../../contract/exec.ts';
import { jsonOf } from '../../drivers/exec-tunnel/tunnel-frames.ts';
import { validationErrorFrom } from '../route-input.ts';

export type ClientControl = Exclude<ClientMessage, { type: 'start' }>;

/** What the relay hears from the client once the session runs. */
export interface ClientListener {
  control(message: ClientControl): void;
  input(bytes: Buffer): void;
  /** The socket closed; `error` when this side closed it over a protocol error. */
  closed(error?: MvmError): void;
}

/**
 * The coordinator's end of a client's session socket (docs/exec.md): the first message must
 * be `start`; later ones are queued until the relay listens (the instance may be waking).
 */
export class ClientSocket {
  private listener: ClientListener | undefined;
  private readonly queued: Array<(listener: ClientListener) => void> = [];
  private starting:
    { resolve: (start: SessionStart) => void; reject: (error: Error) => void } | undefined;
  private failure: MvmError | undefined;
  /** Aborts when the client is gone (waits for the instance give up). */
  readonly gone = new AbortController();

  constructor(private readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    socket.on('close', () => this.onClose());
    socket.on('error', () => undefined);
  }

  /** The session the client asks for; it must say within `timeoutMs`. */
  start(timeoutMs: number): Promise<SessionStart> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ValidationError(`no start message within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      const settle =
        <T>(fn: (value: T) => void) =>
        (value: T) => {
          clearTimeout(timer);
          this.starting = undefined;
          fn(value);
        };
      this.starting = { resolve: settle(resolve), reject: settle(reject) };
      if (this.gone.signal.aborted) this.starting.reject(this.goneError());
    });
  }

  listen(listener: ClientListener): void {
    this.listener = listener;
    for (const deliver of this.queued.splice(0)) deliver(listener);
  }

  send(message: ServerMessage): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }

  data(channel: 'stdout' | 'stderr', bytes: Buffer): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(Buffer.concat([Buffer.of(Channel[channel]), bytes]));
  }

  /** Sends the last message and closes. */
  end(message: ServerMessage): void {
    this.send(message);
    this.socket.close(1000);
  }

  fail(error: unknown): void {
    this.end({ type: 'error', error: sessionError(error) });
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    try {
      if (isBinary) this.onInput(data);
      else this.onControl(parseControl(data));
    } catch (error) {
      this.failure = isMvmError(error) ? error : new ValidationError(errorMessage(error));
      this.starting?.reject(this.failure);
      this.fail(this.failure);
    }
  }

  private onControl(message: ClientMessage): void {
    if (this.starting) {
      if (message.type !== 'start') {
        throw new ValidationError(`the first message must be 'start', not '${message.type}'`);
      }
      this.starting.resolve(message.session);
      return;
    }
    if (message.type === 'start') throw new ValidationError('the session has started already');
    this.deliver((listener) => listener.control(message));
  }

  private onInput(data: Buffer): void {
    if (this.starting) throw new ValidationError('input before the session started');
    if (data.length === 0 || data[0] !== Channel.stdin) {
      throw new ValidationError('a client sends binary messages on channel 0 (stdin) only');
    }
    const bytes = data.subarray(1);
    this.deliver((listener) => listener.input(bytes));
  }

  private onClose(): void {
    this.gone.abort();
    this.starting?.reject(this.goneError());
    this.deliver((listener) => listener.closed(this.failure));
  }

  private deliver(event: (listener: ClientListener) => void): void {
    if (this.listener) event(this.listener);
    else this.queued.push(event);
  }

  private goneError(): UnavailableError {
    return new UnavailableError('the client closed the session before it started');
  }
}

function parseControl(data: Buffer): ClientMessage {
  const parsed = clientMessageSchema.safeParse(jsonOf(data));
  if (!parsed.success) throw validationErrorFrom('message', parsed.error);
  return parsed.data;
}

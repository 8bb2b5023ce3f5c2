import type { Readable, Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import {
  Channel,
  DEFAULT_SESSION_WINDOW,
  serverMessageSchema,
  type ClientMessage,
  type SessionExit,
  type SessionSignal,
  type SessionStart,
  type Started,
} from '../../contract/exec.ts';
import { HostError, UnavailableError, type MvmError } from '../../core/errors.ts';
import { ReceiveCredit } from './credit.ts';
import { errorOfSession } from './session-error.ts';
import { jsonOf } from './tunnel-frames.ts';
import { InputSender } from './input-sender.ts';

/** Where a session's bytes come from and go to on this side. */
export interface SessionIo {
  stdout: Writable;
  stderr: Writable;
  /** Sent as the session's input once it started, then EOF; none: the command gets no stdin. */
  stdin?: Readable;
}

/**
 * The client's side of a session (docs/exec.md): sends the start, writes output to the local
 * streams and grants credit only as those writes complete (a slow reader of this process's
 * output slows the command, nothing piles up), sends input within the credit it gets.
 */
export class ClientSession {
  readonly started: Promise<Started>;
  readonly exit: Promise<SessionExit>;
  private readonly output: ReceiveCredit;
  private input: InputSender | undefined;
  private settle!: {
    started: (started: Started) => void;
    exit: (exit: SessionExit) => void;
    fail: (error: MvmError) => void;
  };
  private done = false;
  private closing = false;

  constructor(
    private readonly socket: WebSocket,
    start: SessionStart,
    private readonly io: SessionIo,
  ) {
    this.output = new ReceiveCredit(start.window ?? DEFAULT_SESSION_WINDOW, (bytes) =>
      this.send({ type: 'credit', bytes }),
    );
    let startedResolve!: (started: Started) => void;
    let startedReject!: (error: MvmError) => void;
    this.started = new Promise((resolve, reject) => {
      startedResolve = resolve;
      startedReject = reject;
    });
    this.started.catch(() => undefined);
    this.exit = new Promise((resolve, reject) => {
      this.settle = {
        started: startedResolve,
        exit: resolve,
        fail: (error) => {
          startedReject(error);
          reject(error);
        },
      };
    });
    // A caller that stops at `started` (a refused copy) never awaits `exit`: no stray rejection.
    this.exit.catch(() => undefined);
    socket.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    socket.on('close', () =>
      this.fail(new UnavailableError('the coordinator closed the session before it ended')),
    );
    socket.on('error', () => undefined);
    this.send({ type: 'start', session: start });
  }

  resize(cols: number, rows: number): void {
    this.send({ type: 'resize', cols, rows });
  }

  signal(signal: SessionSignal): void {
    this.send({ type: 'signal', signal });
  }

  /** Whether this side ended the session (`close`), so its end is no failure. */
  get closedHere(): boolean {
    return this.closing;
  }

  close(): void {
    this.closing = true;
    this.input?.stop();
    this.socket.close(1000);
  }

  private send(message: ClientMessage): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) return this.onOutput(data);
    const message = serverMessageSchema.safeParse(jsonOf(data));
    if (!message.success) return this.fail(protocolError('a malformed message'));
    const m = message.data;
    if (m.type === 'started') this.onStarted(m);
    else if (m.type === 'credit') this.input?.grant(m.bytes);
    else if (m.type === 'error') this.fail(errorOfSession(m.error));
    else this.onExit(m);
  }

  private onStarted(started: Started): void {
    const { stdin } = this.io;
    if (stdin && started.stdinWindow > 0) {
      this.input = new InputSender(
        stdin,
        started.stdinWindow,
        (bytes) => this.socket.send(Buffer.concat([Buffer.of(Channel.stdin), bytes])),
        () => this.send({ type: 'eof' }),
      );
    }
    this.settle.started(started);
  }

  private onOutput(data: Buffer): void {
    const channel = data[0];
    const bytes = data.subarray(1);
    if (channel !== Channel.stdout && channel !== Channel.stderr) {
      return this.fail(protocolError(`output on channel ${String(channel)}`));
    }
    if (!this.output.receive(bytes.length)) {
      return this.fail(protocolError('more output than this client granted'));
    }
    const target = channel === Channel.stdout ? this.io.stdout : this.io.stderr;
    target.write(bytes, () => this.output.consume(bytes.length));
  }

  /** Resolves once every byte before the exit is written out. */
  private onExit(exit: SessionExit): void {
    this.done = true;
    this.input?.stop();
    let waiting = 2;
    const flushed = (): void => {
      if (--waiting === 0) this.settle.exit(exit);
    };
    this.io.stdout.write('', flushed);
    this.io.stderr.write('', flushed);
  }

  private fail(error: MvmError): void {
    if (this.done) return;
    this.done = true;
    this.input?.stop();
    this.settle.fail(error);
    this.socket.close(1000);
  }
}

function protocolError(what: string): HostError {
  return new HostError(
    `the coordinator sent ${what}; are the CLI and coordinator the same version?`,
  );
}

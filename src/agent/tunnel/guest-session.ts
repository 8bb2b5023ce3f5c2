import {
  DEFAULT_SESSION_WINDOW,
  DEFAULT_SHELL_ARGV,
  type ServerMessage,
  type SessionSignal,
  type SessionStart,
  type TunnelRequest,
} from '../../contract/exec.ts';
import type { ExecExit, ExecRequest } from '../../contract/guest-protocol-v2.ts';
import { ValidationError } from '../../core/errors.ts';
import { sessionError } from '../../drivers/exec-tunnel/session-error.ts';
import type { InstanceRef } from '../runtime/instance-runtime.ts';
import { CreditedInput } from './credited-input.ts';
import type { GuestSessions } from './guest-sessions.ts';
import { OutputPump, type OutputSource } from './output-pump.ts';
import { openWorkloadStream } from './workload-stream.ts';

/** Input bytes a session takes ahead of the guest (the guest's own stdin window). */
export const STDIN_WINDOW = 256 * 1024;

/** Where a session's messages and output go: its stream on the tunnel. */
export interface SessionOut {
  message(message: ServerMessage): void;
  data(channel: OutputSource['channel'], bytes: Buffer): void;
  /** More input the session takes. */
  credit(bytes: number): void;
}

type Exec = Extract<SessionStart, { kind: 'exec' }>;
type Pty = Extract<SessionStart, { kind: 'pty' }>;
type Put = Extract<SessionStart, { kind: 'put' }>;
type Get = Extract<SessionStart, { kind: 'get' }>;
type Logs = Extract<SessionStart, { kind: 'logs' }>;

/**
 * One session the coordinator opened on this node's tunnel: a command, a terminal or a file
 * copy in a guest, or the instance's console. It starts the guest session, relays input, output and credit, and ends
 * with exactly one exit or error message.
 */
export class GuestSession {
  private input: CreditedInput | undefined;
  private pump: OutputPump | undefined;
  private signal: ((name: SessionSignal) => Promise<void>) | undefined;
  private resize: ((cols: number, rows: number) => Promise<void>) | undefined;
  private readonly abort = new AbortController();
  private readonly window: number;

  constructor(
    private readonly guests: GuestSessions,
    private readonly ref: InstanceRef,
    private readonly start: SessionStart,
    private readonly out: SessionOut,
  ) {
    this.window = start.window ?? DEFAULT_SESSION_WINDOW;
  }

  /** Runs the session to its end; never rejects (failures become its error message). */
  async run(): Promise<void> {
    try {
      this.out.message(await this.perform());
    } catch (error) {
      this.out.message({ type: 'error', error: sessionError(error) });
    } finally {
      this.input?.end();
    }
  }

  /** A control message from the coordinator. */
  request(request: Exclude<TunnelRequest, { type: 'open' }>): void {
    switch (request.type) {
      case 'eof':
        return this.input?.end();
      case 'signal':
        return void this.signal?.(request.signal).catch(() => undefined);
      case 'resize':
        return void this.resize?.(request.cols, request.rows).catch(() => undefined);
      case 'cancel':
        return this.cancel();
    }
  }

  /** Input bytes; a sender past its credit is refused (the session is cancelled). */
  stdin(bytes: Buffer): void {
    if (this.input?.push(bytes) === false) this.cancel();
  }

  credit(bytes: number): void {
    this.pump?.grant(bytes);
  }

  /** The client is gone (or the tunnel): kill what runs and drop its output. */
  cancel(): void {
    this.abort.abort();
    this.input?.readable.destroy(new ValidationError('the session was cancelled'));
    this.pump?.discard();
  }

  /** What the session held at most: output read from the guest and not yet sent on. */
  get figures(): { peakOutputHeld: number } {
    return { peakOutputHeld: this.pump?.peakHeld ?? 0 };
  }

  private perform(): Promise<ServerMessage> {
    switch (this.start.kind) {
      case 'exec':
        return this.exec(this.start);
      case 'pty':
        return this.pty(this.start);
      case 'put':
        return this.put(this.start);
      case 'get':
        return this.get(this.start);
      case 'logs':
        return this.logs(this.start);
    }
  }

  private async exec(start: Exec): Promise<ServerMessage> {
    const input = start.stdin ? this.newInput() : undefined;
    const handle = await this.guests.exec(this.ref, commandOf(start, start.argv), {
      ...(input ? { stdin: input.readable } : {}),
      signal: this.abort.signal,
    });
    this.signal = (name) => handle.signal(name);
    return this.streamed(
      handle.pid,
      input,
      [
        { readable: handle.stdout, channel: 'stdout' },
        { readable: handle.stderr, channel: 'stderr' },
      ],
      handle.exit,
    );
  }

  private async pty(start: Pty): Promise<ServerMessage> {
    const input = this.newInput();
    const argv = start.argv ?? [...DEFAULT_SHELL_ARGV];
    const pty = await this.guests.openPty(
      this.ref,
      { ...commandOf(start, argv), cols: start.cols, rows: start.rows },
      { signal: this.abort.signal },
    );
    // A cancel destroys the input with an error; pipe() does not forward it, so it is taken
    // here (the abort already kills the shell), or it would be an uncaught exception.
    input.readable.on('error', () => pty.input.end());
    input.readable.pipe(pty.input);
    this.signal = (name) => pty.signal(name);
    this.resize = (cols, rows) => pty.resize(cols, rows);
    return this.streamed(pty.pid, input, [{ readable: pty.output, channel: 'stdout' }], pty.exit);
  }

  private async streamed(
    pid: number,
    input: CreditedInput | undefined,
    sources: OutputSource[],
    exit: Promise<ExecExit>,
  ): Promise<ServerMessage> {
    this.out.message({ type: 'started', pid, stdinWindow: input ? STDIN_WINDOW : 0 });
    await this.output(sources);
    const { code, signal, timedOut } = await exit;
    return { type: 'exit', code, ...(signal !== undefined ? { signal } : {}), timedOut };
  }

  private async put(start: Put): Promise<ServerMessage> {
    const input = this.newInput();
    // The bytes may flow at once: the guest's acceptance only decides where they go.
    this.out.message({ type: 'started', stdinWindow: STDIN_WINDOW });
    const { bytes } = await this.guests.putFile(this.ref, start.path, input.readable, {
      mode: start.mode,
    });
    return { type: 'exit', code: 0, timedOut: false, bytes };
  }

  private async get(start: Get): Promise<ServerMessage> {
    const file = await this.guests.getFile(this.ref, start.path);
    this.out.message({ type: 'started', size: file.size, mode: file.mode, stdinWindow: 0 });
    await this.output([{ readable: file.content, channel: 'stdout' }]);
    const { bytes } = await file.done;
    return { type: 'exit', code: 0, timedOut: false, bytes };
  }

  /** Ends with the log's end, or with follow when the client leaves (a cancel). */
  private async logs(start: Logs): Promise<ServerMessage> {
    const options = { tail: start.tail, follow: start.follow, signal: this.abort.signal };
    const log = start.console
      ? await this.guests.consoleLog(this.ref, options)
      : await openWorkloadStream((query) => this.guests.workloadLogs(this.ref, query), options);
    this.out.message({ type: 'started', stdinWindow: 0 });
    await this.output([{ readable: log, channel: 'stdout' }]);
    return { type: 'exit', code: 0, timedOut: false };
  }

  private output(sources: OutputSource[]): Promise<void> {
    this.pump = new OutputPump(sources, this.window, (channel, bytes) =>
      this.out.data(channel, bytes),
    );
    if (this.abort.signal.aborted) this.pump.discard();
    return this.pump.done;
  }

  private newInput(): CreditedInput {
    this.input = new CreditedInput(STDIN_WINDOW, (bytes) => this.out.credit(bytes));
    return this.input;
  }
}

function commandOf(start: Exec | Pty, argv: string[]): ExecRequest {
  return {
    argv,
    ...(start.env ? { env: start.env } : {}),
    ...(start.cwd !== undefined ? { cwd: start.cwd } : {}),
    ...(start.user !== undefined ? { user: start.user } : {}),
    ...(start.kind === 'exec' && start.timeoutMs !== undefined
      ? { timeoutMs: start.timeoutMs }
      : {}),
  };
}

import { Writable } from 'node:stream';
import type { Readable } from 'node:stream';
import { HostError } from '../../core/errors.ts';
import {
  ExecAcceptedSchema,
  ExitEventSchema,
  FrameType,
} from '../../contract/guest-protocol-v2.ts';
import type { ExecExit, ExecRequest } from '../../contract/guest-protocol-v2.ts';
import { guestError } from './agent-connection.ts';
import type { AgentConnection } from './agent-connection.ts';
import type { Frame } from './frame-codec.ts';
import { outputDelivered } from './output-delivered.ts';
import { InputFlow, OutputFlow } from './session-flow.ts';

export const DEFAULT_OUTPUT_WINDOW = 256 * 1024;

export interface ExecOptions {
  /** Piped to the command's stdin, then closed; without it stdin is /dev/null. */
  stdin?: Readable | Uint8Array | string;
  /** Aborting kills the command's process group (KILL); `exit` still settles. */
  signal?: AbortSignal;
  /** Output bytes the guest may send ahead of the reader (default 256 KiB). */
  windowBytes?: number;
}

export interface ExecHandle {
  readonly pid: number;
  /** Read both (or neither): an unread stream holds the shared window and stalls the other. */
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Exactly one per command; rejects only when the channel to the guest is lost. */
  readonly exit: Promise<ExecExit>;
  /** Sends a signal (TERM, KILL, INT, HUP, ...) to the command's whole process group. */
  signal(name: string): Promise<void>;
}

export interface PtyRequest extends ExecRequest {
  cols: number;
  rows: number;
}

export interface PtyHandle {
  readonly pid: number;
  /** The terminal's output (stdout and stderr together, as a terminal shows them). */
  readonly output: Readable;
  /** Keystrokes; ending it sends ^D. */
  readonly input: Writable;
  readonly exit: Promise<ExecExit>;
  resize(cols: number, rows: number): Promise<void>;
  signal(name: string): Promise<void>;
}

interface Started {
  pid: number;
  id: number;
  out: OutputFlow;
  stdout: Readable;
  stderr: Readable;
  input: InputFlow;
  exit: Promise<ExecExit>;
}

/** Starts a command session; resolves once the guest forked it (or rejects: bad user, argv). */
export function startExec(
  conn: AgentConnection,
  request: ExecRequest & { pty?: { cols: number; rows: number } },
  options: ExecOptions & { stdinOpen?: boolean },
  requestTimeoutMs: number,
): Promise<Started> {
  const window = options.windowBytes ?? DEFAULT_OUTPUT_WINDOW;
  return new Promise((resolveStart, rejectStart) => {
    let started = false;
    let settleExit: { resolve: (exit: ExecExit) => void; reject: (error: Error) => void };
    const exit = new Promise<ExecExit>((resolve, reject) => (settleExit = { resolve, reject }));
    exit.catch(() => undefined); // callers who never await it must not crash the process
    const timer = setTimeout(() => {
      if (started) return;
      conn.release(id);
      rejectStart(new HostError(`guest agent did not start '${request.argv[0]}' in time`));
    }, requestTimeoutMs);
    const handler = {
      onFrame(frame: Frame): void {
        if (frame.type === FrameType.resp && !started) {
          clearTimeout(timer);
          const answer = parse(frame.payload);
          const accepted = ExecAcceptedSchema.safeParse(answer);
          if (!accepted.success) {
            conn.release(id);
            rejectStart(guestError('exec', answer));
            return;
          }
          started = true;
          input.open(accepted.data.stdin_window);
          resolveStart({ pid: accepted.data.pid, id, out, stdout, stderr, input, exit });
        } else if (frame.type === FrameType.stdout) out.deliver(stdout, frame.payload);
        else if (frame.type === FrameType.stderr) out.deliver(stderr, frame.payload);
        else if (frame.type === FrameType.credit && frame.payload.length === 4) {
          input.credit(frame.payload.readUInt32BE(0));
        } else if (frame.type === FrameType.event) {
          const event = ExitEventSchema.safeParse(parse(frame.payload));
          if (!event.success) return;
          conn.release(id);
          out.end(true);
          input.wake();
          const { code, signal, signal_number: number, timed_out: timedOut } = event.data;
          const result: ExecExit = {
            code,
            timedOut,
            ...(signal ? { signal } : number ? { signal: String(number) } : {}),
          };
          // The output that came with the exit (often in the same read) reaches its readers
          // first: a caller awaiting `exit` has every byte its listeners will get.
          void outputDelivered(out.streams).then(() => settleExit.resolve(result));
        }
      },
      onClose(error: Error): void {
        clearTimeout(timer);
        out.end(false);
        input.wake();
        if (!started) rejectStart(error);
        settleExit.reject(error);
      },
    };
    const id = conn.openStream(handler);
    const out = new OutputFlow(conn, id, window);
    const stdout = out.readable();
    const stderr = out.readable();
    const input = new InputFlow(conn, id);
    conn.write('exec', id, {
      argv: request.argv,
      ...(request.env ? { env: request.env } : {}),
      ...(request.cwd ? { cwd: request.cwd } : {}),
      ...(request.user ? { user: request.user } : {}),
      ...(request.timeoutMs ? { timeout_ms: request.timeoutMs } : {}),
      ...(request.killGraceMs !== undefined ? { kill_grace_ms: request.killGraceMs } : {}),
      ...(request.pty ? { pty: request.pty } : {}),
      stdin: options.stdinOpen ?? options.stdin !== undefined,
      window,
    });
  });
}

/** Wires the abort signal: the command's group is killed; its exit still arrives. */
export function killOnAbort(signal: AbortSignal | undefined, kill: () => Promise<void>): void {
  if (!signal) return;
  const onAbort = (): void => void kill().catch(() => undefined);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
}

/** The pty's keystrokes as a Writable, flow-controlled by the guest's stdin window. */
export function ptyInput(input: InputFlow): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      input.write(chunk).then(() => callback(), callback);
    },
    final(callback) {
      input.end();
      callback();
    },
  });
}

function parse(payload: Buffer): Record<string, unknown> | undefined {
  try {
    return JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

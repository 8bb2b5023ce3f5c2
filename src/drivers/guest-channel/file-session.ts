import type { Readable } from 'node:stream';
import { HostError, NotFoundError } from '../../core/errors.ts';
import {
  FileEventSchema,
  FrameType,
  GetAcceptedSchema,
  PutAcceptedSchema,
} from '../../contract/guest-protocol-v2.ts';
import { guestError } from './agent-connection.ts';
import type { AgentConnection } from './agent-connection.ts';
import { DEFAULT_OUTPUT_WINDOW } from './exec-session.ts';
import type { Frame } from './frame-codec.ts';
import { outputDelivered } from './output-delivered.ts';
import { InputFlow, OutputFlow } from './session-flow.ts';

export interface PutFileOptions {
  /** Permission bits of the new file (default 0o644). */
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface GetFileHandle {
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** The file's bytes; ends once all arrived. */
  content: Readable;
  /** Resolves with the byte count once the guest sent everything. */
  done: Promise<{ bytes: number }>;
}

/**
 * Writes `source` to `path` in the guest: streamed under the guest's window into a temporary
 * file beside it, then synced, given its mode and renamed (readers never see half a file).
 */
export function putFile(
  conn: AgentConnection,
  path: string,
  source: Readable | Uint8Array | string,
  options: PutFileOptions,
): Promise<{ bytes: number }> {
  return new Promise((resolve, reject) => {
    let accepted = false;
    const id = conn.openStream({
      onFrame(frame: Frame): void {
        const body = parse(frame.payload);
        if (frame.type === FrameType.resp && !accepted) {
          const ok = PutAcceptedSchema.safeParse(body);
          if (!ok.success) return fail(fileError('put', path, body));
          accepted = true;
          input.open(ok.data.stdin_window);
          input.pump(source).catch((error: unknown) => {
            void conn.request('cancel', { session: id }, 5_000).catch(() => undefined);
            fail(error instanceof Error ? error : new HostError(String(error)));
          });
        } else if (frame.type === FrameType.credit && frame.payload.length === 4) {
          input.credit(frame.payload.readUInt32BE(0));
        } else if (frame.type === FrameType.event) {
          conn.release(id);
          const event = FileEventSchema.safeParse(body);
          if (event.success && event.data.ev === 'done') resolve({ bytes: event.data.bytes });
          else fail(fileError('put', path, body));
        }
      },
      onClose(error: Error): void {
        input.wake();
        reject(error);
      },
    });
    const input = new InputFlow(conn, id);
    const fail = (error: Error): void => {
      conn.release(id);
      input.wake();
      reject(error);
    };
    conn.write('put', id, {
      path,
      mode: options.mode ?? 0o644,
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    });
  });
}

/** Reads `path` from the guest as a stream, flow-controlled like command output. */
export function getFile(conn: AgentConnection, path: string): Promise<GetFileHandle> {
  return new Promise((resolveOpen, rejectOpen) => {
    let opened = false;
    let settle: { resolve: (v: { bytes: number }) => void; reject: (e: Error) => void };
    const done = new Promise<{ bytes: number }>(
      (resolve, reject) => (settle = { resolve, reject }),
    );
    done.catch(() => undefined);
    const id = conn.openStream({
      onFrame(frame: Frame): void {
        if (frame.type === FrameType.stdout) return out.deliver(content, frame.payload);
        const body = parse(frame.payload);
        if (frame.type === FrameType.resp && !opened) {
          const ok = GetAcceptedSchema.safeParse(body);
          if (!ok.success) {
            conn.release(id);
            return rejectOpen(fileError('get', path, body));
          }
          opened = true;
          resolveOpen({ ...ok.data, content, done });
        } else if (frame.type === FrameType.event) {
          conn.release(id);
          const event = FileEventSchema.safeParse(body);
          out.end(event.success && event.data.ev === 'done');
          if (event.success && event.data.ev === 'done') {
            const { bytes } = event.data;
            // As for an exec's exit: the content that came with it reaches its reader first.
            void outputDelivered(out.streams).then(() => settle.resolve({ bytes }));
          } else settle.reject(fileError('get', path, body));
        }
      },
      onClose(error: Error): void {
        out.end(false);
        if (!opened) rejectOpen(error);
        settle.reject(error);
      },
    });
    const out = new OutputFlow(conn, id, DEFAULT_OUTPUT_WINDOW);
    const content = out.readable();
    conn.write('get', id, { path, window: DEFAULT_OUTPUT_WINDOW });
  });
}

function fileError(op: string, path: string, body: Record<string, unknown> | undefined): Error {
  if (op === 'get' && body?.['code'] === 'not_found') return new NotFoundError('guest file', path);
  return guestError(`${op} ${path}`, body);
}

function parse(payload: Buffer): Record<string, unknown> | undefined {
  try {
    return JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

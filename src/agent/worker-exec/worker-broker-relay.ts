import { PassThrough, Writable } from 'node:stream';
import type { ExecExit, ExecRequest } from '../../contract/guest-protocol-v2.ts';
import {
  WORKER_BROKER_ARGV,
  WorkerFrame,
  workerExecRequestSchema,
  type WorkerExecQuery,
  type WorkerExecRequest,
} from '../../contract/worker-exec.ts';
import { errorMessage } from '../../core/errors.ts';
import type { ExecHandle, ExecOptions } from '../../drivers/guest-channel/exec-session.ts';
import type { Logger } from '../../ports/logger.ts';
import type { InstanceKey } from '../../ports/store.ts';
import { ClientSession } from '../../drivers/exec-tunnel/client-session.ts';
import type { WebSocket } from 'ws';
import { encodeWorkerFrame, workerFrames, type WorkerFrameData } from './worker-frames.ts';

/** Commands one gateway guest may have running in workers at once. */
export const MAX_WORKER_COMMANDS = 16;
/** Input a command may have buffered here before its worker takes it. */
const MAX_PENDING_STDIN = 4 * 1024 * 1024;

export interface WorkerBrokerRelayOptions {
  gateway: InstanceKey;
  guest: { exec(request: ExecRequest, options?: ExecOptions): Promise<ExecHandle> };
  /** The coordinator's workerExec socket for this gateway (open-worker-session.ts). */
  open: (query: WorkerExecQuery) => Promise<WebSocket>;
  logger: Logger;
}

interface Command {
  stdin: PassThrough;
  session?: ClientSession;
  closed: boolean;
}

/**
 * Runs `mvm-worker broker` in one gateway guest as a guest agent exec session and carries each
 * of its commands to the coordinator's workerExec route (docs/openclaw.md, "Worker exec"), as
 * the job relay carries a worker's executor calls: the guest holds no credential and names no
 * tenant; this relay names the gateway instance it runs the broker in, the coordinator
 * resolves the worker in that instance's tenant. Every request is checked here (zod) first.
 */
export class WorkerBrokerRelay {
  private readonly commands = new Map<number, Command>();

  constructor(private readonly options: WorkerBrokerRelayOptions) {}

  /** One broker session, relayed until it exits; the commands it had are closed. */
  async run(signal?: AbortSignal): Promise<ExecExit> {
    const toGuest = new PassThrough();
    const exec = await this.options.guest.exec(
      { argv: [...WORKER_BROKER_ARGV] },
      { stdin: toGuest, ...(signal ? { signal } : {}) },
    );
    exec.stderr.on('data', (chunk: Buffer) =>
      this.options.logger.info({ line: chunk.toString().trim() }, 'worker broker'),
    );
    const send = (type: number, id: number, payload?: Uint8Array) =>
      new Promise<void>((resolve) =>
        toGuest.write(encodeWorkerFrame(type, id, payload), () => resolve()),
      );
    const relayed = (async () => {
      for await (const frame of workerFrames(exec.stdout)) this.onFrame(frame, send);
    })().catch(async (error: unknown) => {
      this.options.logger.warn({ error: errorMessage(error) }, 'worker broker broke its protocol');
      await exec.signal('KILL').catch(() => undefined);
    });
    const exit = await exec.exit;
    toGuest.end();
    await relayed;
    for (const command of this.commands.values()) this.close(command);
    this.commands.clear();
    return exit;
  }

  private onFrame(frame: WorkerFrameData, send: Send): void {
    const command = this.commands.get(frame.id);
    if (frame.type === WorkerFrame.open && !command) return this.open(frame, send);
    if (!command) return;
    if (frame.type === WorkerFrame.stdin) {
      if (command.stdin.writableLength + frame.payload.length > MAX_PENDING_STDIN) {
        this.close(command);
        return void send(WorkerFrame.error, frame.id, text('more input than the worker took'));
      }
      command.stdin.write(Buffer.from(frame.payload));
    } else if (frame.type === WorkerFrame.eof) command.stdin.end();
    else if (frame.type === WorkerFrame.close) {
      this.close(command);
      this.commands.delete(frame.id);
    }
  }

  private open(frame: WorkerFrameData, send: Send): void {
    const { id } = frame;
    const request = parseRequest(frame.payload);
    if (typeof request === 'string') return void send(WorkerFrame.error, id, text(request));
    if (this.commands.size >= MAX_WORKER_COMMANDS) {
      return void send(
        WorkerFrame.error,
        id,
        text(`at most ${MAX_WORKER_COMMANDS} commands at once`),
      );
    }
    const command: Command = { stdin: new PassThrough(), closed: false };
    this.commands.set(id, command);
    void this.serve(id, command, request, send)
      .catch((error: unknown) => send(WorkerFrame.error, id, text(errorMessage(error))))
      .finally(() => {
        this.commands.delete(id);
        command.stdin.destroy();
      });
  }

  private async serve(id: number, command: Command, request: WorkerExecRequest, send: Send) {
    const query: WorkerExecQuery = {
      ...(request.worker !== undefined ? { worker: request.worker } : {}),
      ...(request.instance !== undefined ? { target: request.instance } : {}),
    };
    const socket = await this.options.open(query);
    if (command.closed) return void socket.close(1000);
    const output = (type: number) =>
      new Writable({
        write: (chunk: Buffer, _encoding, done) => void send(type, id, chunk).then(() => done()),
      });
    command.session = new ClientSession(
      socket,
      {
        kind: 'exec',
        argv: request.argv,
        stdin: true,
        ...(request.cwd !== undefined ? { cwd: request.cwd } : {}),
      },
      {
        stdout: output(WorkerFrame.stdout),
        stderr: output(WorkerFrame.stderr),
        stdin: command.stdin,
      },
    );
    const exit = await command.session.exit;
    this.options.logger.info(
      { gateway: this.options.gateway.instanceId, argv0: request.argv[0], code: exit.code },
      'worker command ended',
    );
    await send(WorkerFrame.exit, id, text(String(exit.code)));
  }

  private close(command: Command): void {
    command.closed = true;
    command.session?.close();
    command.stdin.destroy();
  }
}

type Send = (type: number, id: number, payload?: Uint8Array) => Promise<void>;

const text = (value: string) => Buffer.from(value, 'utf8');

/** The request, or why it is refused (nothing leaves the node for a bad one). */
function parseRequest(payload: Buffer): WorkerExecRequest | string {
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch {
    return 'a worker request must be JSON';
  }
  const parsed = workerExecRequestSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  return `invalid worker request: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ')}`;
}

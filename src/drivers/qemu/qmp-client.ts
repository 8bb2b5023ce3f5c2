import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { HostError } from '../../core/errors.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';

/** QEMU refused a command: carries QMP's error class (GenericError, CommandNotFound, ...). */
export class QmpCommandError extends HostError {
  readonly errorClass: string;
  constructor(command: string, errorClass: string, desc: string) {
    super(`QMP '${command}' failed: ${errorClass}: ${desc}`, { command, errorClass });
    this.errorClass = errorClass;
  }
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface QmpConnectOptions {
  /** For the greeting and the capabilities handshake. */
  timeoutMs?: number;
  logger?: Logger;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

/**
 * A QMP client on QEMU's unix socket: newline-delimited JSON, commands correlated by `id`,
 * asynchronous events skipped (logged at debug), a timeout per command.
 */
export class QmpClient {
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closedError: Error | undefined;
  private greeted: ((error?: Error) => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly path: string,
    private readonly log: Logger,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (error) => this.fail(new HostError(`QMP socket ${path}: ${error.message}`)));
    socket.on('close', () => this.fail(new HostError(`QMP connection to ${path} closed`)));
  }

  /** Connects, waits for the greeting and negotiates capabilities. */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? 5_000;
    const socket = connect(path);
    const client = new QmpClient(socket, path, options.logger ?? silentLogger);
    try {
      await client.greeting(timeoutMs);
      await client.execute('qmp_capabilities', undefined, timeoutMs);
      return client;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
  ): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = `mvm-${this.nextId++}`;
    const message = { execute: command, ...(args ? { arguments: args } : {}), id };
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new HostError(`QMP '${command}' on ${this.path} got no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = resolve as (value: unknown) => void;
      this.pending.set(id, { command, resolve: settle, reject, timer });
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  close(): void {
    this.fail(new HostError(`QMP connection to ${this.path} closed by us`));
    this.socket.destroy();
  }

  private greeting(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.greeted = undefined;
        reject(new HostError(`no QMP greeting on ${this.path} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.greeted = (error) => {
        clearTimeout(timer);
        this.greeted = undefined;
        if (error) reject(error);
        else resolve();
      };
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line !== '') this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.log.warn({ socket: this.path, line: line.slice(0, 200) }, 'unparsable QMP line');
      return;
    }
    if ('QMP' in message) this.greeted?.();
    else if ('event' in message)
      this.log.debug({ socket: this.path, event: message['event'] }, 'QMP event');
    else this.onReply(message);
  }

  private onReply(message: Record<string, unknown>): void {
    const id = typeof message['id'] === 'string' ? message['id'] : undefined;
    const pending = id === undefined ? undefined : this.pending.get(id);
    if (!pending || id === undefined) return; // a reply to a command that already timed out
    this.pending.delete(id);
    clearTimeout(pending.timer);
    const error = message['error'];
    if (error !== undefined && error !== null && typeof error === 'object') {
      const { class: cls, desc } = error as { class?: unknown; desc?: unknown };
      pending.reject(new QmpCommandError(pending.command, String(cls), String(desc)));
    } else {
      pending.resolve(message['return']);
    }
  }

  private fail(error: Error): void {
    if (this.closedError) return;
    this.closedError = error;
    this.greeted?.(error);
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
  }
}

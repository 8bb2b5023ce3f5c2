import { randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import { HostError, UnavailableError } from '../../core/errors.ts';
import {
  GuestEnvelopeSchema,
  guestResponseSchemas,
  StatusResponseSchema,
} from '../../contract/guest-protocol.ts';
import type {
  DriveDigests,
  GuestOp,
  GuestResponse,
  GuestStatus,
} from '../../contract/guest-protocol.ts';
import type { Clock } from '../../ports/clock.ts';
import { systemClock } from '../clock/system-clock.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';
import { waitUntil } from '../process/wait-until.ts';
import type { GuestTransport } from './guest-transport.ts';

export interface GuestClientOptions {
  logger?: Logger;
  /** Measures the readiness and connect waits; default the system clock. */
  clock?: Clock;
  /** Per request, unless the call gives its own. */
  requestTimeoutMs?: number;
  /** How long a request keeps trying to open the channel. */
  connectTimeoutMs?: number;
}

interface Pending {
  resolve: (line: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Host side of the guest agent protocol over any GuestTransport: one stream, requests
 * correlated by id, a timeout per request, reconnect on demand (a woken VM is a new process
 * with a new socket). Replies nobody waits for (a request that timed out) are dropped.
 */
export class GuestClient {
  private socket: Socket | undefined;
  private buffer = '';
  // A random start keeps a new client from matching stale replies meant for an old one.
  private nextId = randomInt(1, 2 ** 30);
  private readonly pending = new Map<number, Pending>();
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(
    private readonly transport: GuestTransport,
    private readonly options: GuestClientOptions = {},
  ) {
    this.log = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
  }

  ping(timeoutMs?: number): Promise<GuestResponse<'ping'>> {
    return this.request('ping', {}, timeoutMs);
  }

  status(timeoutMs?: number): Promise<GuestStatus> {
    return this.request('status', {}, timeoutMs).then((r) => StatusResponseSchema.parse(r));
  }

  /** Asks the guest to flush its filesystems before a snapshot. */
  sleepPrep(timeoutMs?: number): Promise<GuestResponse<'sleep-prep'>> {
    return this.request('sleep-prep', {}, timeoutMs);
  }

  /**
   * Tells a restored guest it woke up, with the host clock so it can catch up, and the digests
   * of its rebuilt read-only drives (it remounts those that changed; all of them without).
   */
  wake(
    nowEpochSeconds = Math.floor(Date.now() / 1000),
    timeoutMs?: number,
    drives: DriveDigests = {},
  ): Promise<GuestResponse<'wake'>> {
    return this.request('wake', { now: nowEpochSeconds, ...drives }, timeoutMs);
  }

  /** Tells a freshly booted guest the digests of the drives it mounted. */
  drives(drives: DriveDigests, timeoutMs?: number): Promise<GuestResponse<'drives'>> {
    return this.request('drives', { ...drives }, timeoutMs);
  }

  /** Resolves once the agent answers a ping; short pings are retried until the deadline. */
  async waitReady(timeoutMs: number): Promise<void> {
    await waitUntil(() => this.ping(Math.min(1_000, timeoutMs)).then(() => true), {
      clock: this.clock,
      timeoutMs,
      intervalMs: 50,
      what: `guest agent on ${this.transport.describe}`,
    });
  }

  async request<Op extends GuestOp>(
    op: Op,
    extra: Record<string, unknown> = {},
    timeoutMs = this.options.requestTimeoutMs ?? 10_000,
  ): Promise<GuestResponse<Op>> {
    const socket = await this.connected(timeoutMs);
    const id = this.nextId++;
    const reply = await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new UnavailableError(
            `guest agent on ${this.transport.describe} did not answer '${op}' in ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      socket.write(`${JSON.stringify({ id, op, ...extra })}\n`);
    });
    return parseReply(op, reply);
  }

  close(): void {
    this.socket?.destroy();
    this.onClosed(new HostError(`guest channel ${this.transport.describe} closed by us`));
  }

  private async connected(timeoutMs: number): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = await waitUntil(() => this.transport.open(Math.min(timeoutMs, 2_000)), {
      clock: this.clock,
      timeoutMs: this.options.connectTimeoutMs ?? timeoutMs,
      intervalMs: 50,
      what: `guest channel ${this.transport.describe}`,
    });
    this.socket = socket;
    this.buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (error) => this.log.debug({ error: error.message }, 'guest channel error'));
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.onClosed(new UnavailableError(`guest channel ${this.transport.describe} closed`));
    });
    socket.resume();
    return socket;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line !== '') this.onLine(line);
    }
  }

  private onLine(line: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      this.log.warn({ line: line.slice(0, 200) }, 'guest agent sent a line that is not JSON');
      return;
    }
    const envelope = GuestEnvelopeSchema.safeParse(parsed);
    const id = envelope.success ? envelope.data.id : null;
    const pending = id === null ? undefined : this.pending.get(id);
    if (!pending || id === null) {
      this.log.debug({ id }, 'dropping a guest reply nobody waits for');
      return;
    }
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(parsed);
  }

  private onClosed(error: Error): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
  }
}

function parseReply<Op extends GuestOp>(op: Op, reply: unknown): GuestResponse<Op> {
  const envelope = GuestEnvelopeSchema.parse(reply);
  if (!envelope.ok) {
    const error = typeof envelope['error'] === 'string' ? envelope['error'] : 'unknown error';
    throw new HostError(`guest agent refused '${op}': ${error}`, { op });
  }
  const parsed = guestResponseSchemas[op].safeParse(reply);
  if (!parsed.success) {
    throw new HostError(`guest agent sent a malformed '${op}' reply: ${parsed.error.message}`, {
      op,
    });
  }
  return parsed.data as GuestResponse<Op>;
}

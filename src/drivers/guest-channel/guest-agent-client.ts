import type { Readable } from 'node:stream';
import { ConflictError, HostError } from '../../core/errors.ts';
import { StatusResponseSchema } from '../../contract/guest-protocol.ts';
import type { DriveDigests } from '../../contract/guest-protocol.ts';
import {
  LogsAnswerSchema,
  SleepPrepV2Schema,
  StatusV2Schema,
} from '../../contract/guest-protocol-v2.ts';
import type {
  ExecRequest,
  GuestAgentInfo,
  GuestCapability,
  GuestStatusV2,
  SleepPrepResult,
} from '../../contract/guest-protocol-v2.ts';
import { IdentityAnswerSchema } from '../../contract/guest-identity.ts';
import type { GuestIdentity, IdentityAnswer } from '../../contract/guest-identity.ts';
import type { Clock } from '../../ports/clock.ts';
import { systemClock } from '../clock/system-clock.ts';
import { silentLogger } from '../../ports/logger.ts';
import type { Logger } from '../../ports/logger.ts';
import { waitUntil } from '../process/wait-until.ts';
import { AgentConnection } from './agent-connection.ts';
import { killOnAbort, ptyInput, startExec } from './exec-session.ts';
import type { ExecHandle, ExecOptions, PtyHandle, PtyRequest } from './exec-session.ts';
import { getFile, putFile } from './file-session.ts';
import type { GetFileHandle, PutFileOptions } from './file-session.ts';
import type { GuestTransport } from './guest-transport.ts';
import type { IngressBudget } from './ingress-limit.ts';

/** A range of the workload's log; the next range starts at `start + data.length`. */
export interface WorkloadLogChunk {
  first: number;
  end: number;
  start: number;
  data: Buffer;
}

export interface GuestAgentClientOptions {
  logger?: Logger;
  clock?: Clock;
  /** Per request, unless the call gives its own. */
  requestTimeoutMs?: number;
  /** How long a call keeps trying to open the channel and get a hello. */
  connectTimeoutMs?: number;
  /** Told once when the guest breaks the protocol; the client then refuses every call. */
  onViolation?: (reason: string) => void;
  /** What each channel may cost the agent (ingress-limit.ts); default DEFAULT_INGRESS. */
  ingress?: IngressBudget;
  /** How long the rest of a begun frame may take (default 5 s). */
  frameStallMs?: number;
}

/**
 * The host's side of one guest agent (docs/guest-protocol.md): says hello on every new
 * channel, speaks version 2 (frames, sessions) or version 1 (the busybox agent of older
 * images: status, wake, drives and drain only) as the guest answers, and reconnects on demand
 * (a woken VM is a new VMM process with a new socket). Sessions die with their channel: a
 * lost channel rejects their `exit`, and the guest kills what they ran.
 */
export class GuestAgentClient {
  private conn: AgentConnection | undefined;
  private opening: Promise<AgentConnection> | undefined;
  private readonly log: Logger;
  private readonly clock: Clock;
  private violated: string | undefined;

  constructor(
    private readonly transport: GuestTransport,
    private readonly options: GuestAgentClientOptions = {},
  ) {
    this.log = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
  }

  get describe(): string {
    return this.transport.describe;
  }

  /** Resolves once the agent answered hello; retried until the deadline. */
  async waitReady(timeoutMs: number): Promise<GuestAgentInfo> {
    const conn = await this.connection(timeoutMs);
    return conn.info;
  }

  /** Who answers (after connecting if needed): protocol, agent, version, capabilities. */
  async info(): Promise<GuestAgentInfo> {
    return (await this.connection()).info;
  }

  /** A liveness check on an open (or freshly opened) channel. */
  async ping(timeoutMs?: number): Promise<{ ok: true; ready: true }> {
    await this.request('ping', {}, timeoutMs);
    return { ok: true, ready: true };
  }

  async status(timeoutMs?: number): Promise<GuestStatusV2> {
    const answer = await this.request('status', {}, timeoutMs);
    const parsed = StatusV2Schema.safeParse(answer);
    if (parsed.success) return parsed.data;
    const v1 = StatusResponseSchema.safeParse(answer);
    if (!v1.success)
      throw new HostError(`guest agent sent a malformed status: ${v1.error.message}`);
    return { ...v1.data, ok: true };
  }

  /**
   * The cooperative drain: the guest waits up to `deadlineMs` for its sessions and the
   * workload's busy flags, flushes its filesystems and says whether it is idle. A version-1
   * guest only flushes and always answers drained.
   */
  async sleepPrep(deadlineMs: number, timeoutMs = deadlineMs + 5_000): Promise<SleepPrepResult> {
    const answer = await this.request('sleep-prep', { deadline_ms: deadlineMs }, timeoutMs);
    const parsed = SleepPrepV2Schema.safeParse(answer);
    if (parsed.success) return parsed.data;
    if (answer['drained'] === true) {
      return { ok: true, drained: true, busy: { sessions: 0, commands: [], flags: [] } };
    }
    throw new HostError(`guest agent sent a malformed sleep-prep answer`);
  }

  /** A restored guest catches up its clock and remounts rebuilt drives whose digest changed. */
  async wake(
    nowEpochSeconds: number,
    drives: DriveDigests = {},
    timeoutMs?: number,
  ): Promise<void> {
    await this.request('wake', { now: nowEpochSeconds, ...drives }, timeoutMs);
  }

  /**
   * A clone restored from its pool's base takes its own identity (docs/clones.md). Refused
   * with a ConflictError by a guest agent older than 2.2.0 (no `identity` capability).
   */
  async identity(identity: GuestIdentity, timeoutMs?: number): Promise<IdentityAnswer> {
    const conn = await this.capable('identity');
    const answer = await conn.request(
      'identity',
      { ...identity },
      timeoutMs ?? this.requestTimeout(),
    );
    const parsed = IdentityAnswerSchema.safeParse(answer);
    if (!parsed.success)
      throw new HostError(`guest agent sent a malformed identity answer: ${parsed.error.message}`);
    return parsed.data;
  }

  /** Tells a freshly booted guest the digests of the drives it mounted. */
  async drives(drives: DriveDigests, timeoutMs?: number): Promise<void> {
    await this.request('drives', { ...drives }, timeoutMs);
  }

  /** Runs a command; resolves once it started, with its streams and its one exit. */
  async exec(request: ExecRequest, options: ExecOptions = {}): Promise<ExecHandle> {
    const conn = await this.capable('exec');
    const started = await startExec(conn, request, options, this.requestTimeout());
    const signal = (name: string): Promise<void> => this.signal(conn, started.id, name);
    killOnAbort(options.signal, () => signal('KILL'));
    if (options.stdin !== undefined) {
      started.input.pump(options.stdin).catch((error: unknown) => {
        this.log.warn({ error: String(error) }, 'exec stdin source failed; killing the command');
        void signal('KILL').catch(() => undefined);
      });
    }
    const { pid, stdout, stderr, exit } = started;
    return { pid, stdout, stderr, exit, signal };
  }

  /** An interactive terminal session: output, keystrokes, window size. */
  async openPty(request: PtyRequest, options: { signal?: AbortSignal } = {}): Promise<PtyHandle> {
    const conn = await this.capable('pty');
    const { cols, rows, ...exec } = request;
    const started = await startExec(
      conn,
      { ...exec, pty: { cols, rows } },
      { stdinOpen: true },
      this.requestTimeout(),
    );
    const signal = (name: string): Promise<void> => this.signal(conn, started.id, name);
    killOnAbort(options.signal, () => signal('KILL'));
    return {
      pid: started.pid,
      output: started.stdout,
      input: ptyInput(started.input),
      exit: started.exit,
      signal,
      resize: async (c, r) => {
        await conn.request(
          'resize',
          { session: started.id, cols: c, rows: r },
          this.requestTimeout(),
        );
      },
    };
  }

  async putFile(
    path: string,
    source: Readable | Uint8Array | string,
    options: PutFileOptions = {},
  ): Promise<{ bytes: number }> {
    return putFile(await this.capable('files'), path, source, options);
  }

  async getFile(path: string): Promise<GetFileHandle> {
    return getFile(await this.capable('files'), path);
  }

  /**
   * One range of the workload service's log: from `from` (a position in the whole stream;
   * negative counts from its end; default the last `maxBytes`), at most `maxBytes` (the guest
   * caps it at 45,000). Positions survive the guest's log rotation; `first` says what is kept.
   */
  async logs(options: { from?: number; maxBytes?: number } = {}): Promise<WorkloadLogChunk> {
    const conn = await this.capable('logs');
    const body = {
      ...(options.from !== undefined ? { from: options.from } : {}),
      ...(options.maxBytes !== undefined ? { max: options.maxBytes } : {}),
    };
    const answer = await conn.request('logs', body, this.requestTimeout());
    const parsed = LogsAnswerSchema.safeParse(answer);
    if (!parsed.success) {
      throw new HostError(`guest agent sent a malformed logs answer: ${parsed.error.message}`);
    }
    const { first, end, start, data_b64 } = parsed.data;
    return { first, end, start, data: Buffer.from(data_b64, 'base64') };
  }

  close(): void {
    this.conn?.close();
    this.conn = undefined;
  }

  private async signal(conn: AgentConnection, session: number, name: string): Promise<void> {
    await conn.request('signal', { session, signal: name }, this.requestTimeout());
  }

  private requestTimeout(): number {
    return this.options.requestTimeoutMs ?? 10_000;
  }

  private async request(
    op: string,
    body: Record<string, unknown>,
    timeoutMs = this.requestTimeout(),
  ): Promise<Record<string, unknown>> {
    const conn = await this.connection(this.options.connectTimeoutMs ?? timeoutMs);
    return conn.request(op, body, timeoutMs);
  }

  private async capable(cap: GuestCapability): Promise<AgentConnection> {
    const conn = await this.connection();
    if (!conn.info.caps.includes(cap)) {
      throw new ConflictError(
        `the guest agent on ${this.transport.describe} (${conn.info.agent} ${conn.info.version}, protocol ${conn.info.proto}) cannot do '${cap}'; rebuild the instance's image to get the version-2 agent`,
        { capability: cap, agent: conn.info.agent, proto: conn.info.proto },
      );
    }
    return conn;
  }

  /**
   * The open connection, or one opened within `timeoutMs`. Callers share one open under way;
   * one that another caller began with a shorter deadline (a 2 s status probe while a boot
   * waits 90 s for the guest) does not end this caller's wait: it opens again with its own.
   */
  private async connection(
    timeoutMs = this.options.connectTimeoutMs ?? this.requestTimeout(),
  ): Promise<AgentConnection> {
    const deadline = this.clock.now().getTime() + timeoutMs;
    for (;;) {
      if (this.violated !== undefined) {
        throw new HostError(
          `the guest agent on ${this.transport.describe} broke the protocol (${this.violated}); nothing it says is believed until the instance is started again`,
          { violation: this.violated },
        );
      }
      if (this.conn && !this.conn.closed) return this.conn;
      const left = deadline - this.clock.now().getTime();
      const mine = this.opening === undefined;
      this.opening ??= this.open(left).finally(() => (this.opening = undefined));
      try {
        return await this.opening;
      } catch (error) {
        if (mine || deadline - this.clock.now().getTime() <= 0) throw error;
      }
    }
  }

  private onViolation(reason: string): void {
    if (this.violated !== undefined) return;
    this.violated = reason;
    this.options.onViolation?.(reason);
  }

  private async open(timeoutMs: number): Promise<AgentConnection> {
    const started = this.clock.now().getTime();
    let attempt = 0;
    const conn = await waitUntil(
      () => {
        const left = timeoutMs - (this.clock.now().getTime() - started);
        const tried = attempt++;
        return AgentConnection.open(this.transport, {
          timeoutMs: Math.max(250, Math.min(left, helloWaitMs(tried))),
          logger: this.log,
          onViolation: (reason) => this.onViolation(reason),
          ...(this.options.ingress ? { ingress: this.options.ingress } : {}),
          ...(this.options.frameStallMs ? { frameStallMs: this.options.frameStallMs } : {}),
        }).catch((error: unknown) => {
          // A refused connect (guest still booting) or a hello left unanswered: counted by
          // bench/hello-retries.ts.
          this.log.debug({ attempt: tried, error: String(error) }, 'guest hello attempt failed');
          throw error;
        });
      },
      {
        clock: this.clock,
        timeoutMs,
        intervalMs: 50,
        what: `guest agent on ${this.transport.describe}`,
      },
    );
    this.conn = conn;
    this.log.debug({ agent: conn.info.agent, proto: conn.info.proto }, 'guest agent connected');
    return conn;
  }
}

/**
 * How long one connection waits for the guest's hello answer: 1 s, then doubling to 15 s. A
 * guest that is up answers in tens of milliseconds, but a hello can go unanswered on a
 * connection opened just as a woken guest resumes (measured: about 1 wake in 18 under TCG
 * sat out a whole 15 s wait, then the next connection was answered at once); a fresh
 * connection gets a fresh hello, while a guest still booting gets ever longer waits.
 */
export function helloWaitMs(attempt: number): number {
  return Math.min(15_000, 1_000 * 2 ** Math.min(attempt, 4));
}

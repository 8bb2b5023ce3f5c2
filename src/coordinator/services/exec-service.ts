import type { WebSocket } from 'ws';
import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.ts';
import type { Instance } from '../../core/model.ts';
import { DEFAULT_SHELL_ARGV, type SessionStart } from '../../contract/exec.ts';
import { AbortWait, waitUntil } from '../../drivers/process/wait-until.ts';
import { silentLogger, type Logger } from '../../ports/logger.ts';
import type { InstanceKey } from '../../ports/store.ts';
import { sessionError } from '../../drivers/exec-tunnel/session-error.ts';
import { ClientSocket } from '../exec/client-socket.ts';
import { finalMessage, relaySession, type SessionOutcome } from '../exec/session-relay.ts';
import type { Principal } from '../principal.ts';
import { TunnelHub } from '../tunnel/tunnel-hub.ts';
import { audit, type ServiceDeps } from './context.ts';
import { WorkerExecService } from './worker-exec-service.ts';
import { loadInstance, type InstanceService } from './instance-service.ts';

/** What a WebSocket route's handler gives once its request passed: the session to run. */
export type SocketSession = (socket: WebSocket) => void;

export interface ExecTimeouts {
  /** The client's start message. */
  startMs: number;
  /** A warm or sleeping instance woken for a session, until its node reports it running. */
  wakeMs: number;
  /** A node's agent (re)connecting its tunnel. */
  tunnelMs: number;
}

export const DEFAULT_EXEC_TIMEOUTS: ExecTimeouts = {
  startMs: 30_000,
  wakeMs: 120_000,
  tunnelMs: 15_000,
};

export interface ExecDeps extends ServiceDeps {
  logger?: Logger;
  execTimeouts?: Partial<ExecTimeouts>;
}

type GuestStart = Exclude<SessionStart, { kind: 'logs' }>;
type LogsStart = Extract<SessionStart, { kind: 'logs' }>;

const actionOf = {
  exec: 'instance.exec',
  pty: 'instance.shell',
  put: 'instance.cp',
  get: 'instance.cp',
};

/** Which WebSocket route a session came in by: each serves its own kinds of session. */
export type SessionRoute = 'exec' | 'logs';

const pathOf = (key: InstanceKey) => `${key.tenantId}/${key.poolId}/${key.instanceId}`;

/**
 * Sessions into instances (docs/exec.md): node agents connect their tunnels here, clients
 * open exec, pty and copy sessions, which are relayed to the instance's node after waking it
 * if it was warm or sleeping. Every session is an audit event: who, the command line or the
 * copy, and how it ended; never its input or output.
 */
export class ExecService {
  readonly tunnels: TunnelHub;
  /** Gateways' commands in their tenant's workers (worker-exec-service.ts). */
  readonly workers: WorkerExecService;
  private readonly timeouts: ExecTimeouts;

  constructor(
    private readonly deps: ExecDeps,
    private readonly instances: Pick<InstanceService, 'act'>,
  ) {
    this.timeouts = { ...DEFAULT_EXEC_TIMEOUTS, ...deps.execTimeouts };
    this.tunnels = new TunnelHub({ clock: deps.clock, logger: this.logger() });
    this.workers = new WorkerExecService(deps, this);
  }

  /** A node's agent opening its tunnel; the node must be known. */
  async tunnel(nodeId: string): Promise<SocketSession> {
    if (!(await this.deps.store.nodes.get(nodeId))) {
      throw new NotFoundError('node', nodeId, "register it, or join the host with 'mvm add host'");
    }
    return (socket) => void this.tunnels.attach(nodeId, socket);
  }

  /**
   * A client's session with an instance the caller may reach (its scope was checked): by the
   * exec route a command, terminal or copy; by the logs route its console.
   */
  async session(
    principal: Principal,
    key: InstanceKey,
    route: SessionRoute = 'exec',
    ticketId?: string,
  ): Promise<SocketSession> {
    await loadInstance(this.deps.store, key);
    return (socket) =>
      void this.serve(new ClientSocket(socket), principal, key, route, ticketId).catch(
        (err: unknown) => this.logger().error({ err, instance: pathOf(key) }, 'session failed'),
      );
  }

  /**
   * A command in `key` on behalf of another instance, whose caller resolved and checked it
   * (worker-exec-service.ts): exec sessions only; `via` joins the audit event.
   */
  relayedSession(
    principal: Principal,
    key: InstanceKey,
    via: Record<string, unknown>,
  ): SocketSession {
    return (socket) => {
      const client = new ClientSocket(socket);
      void (async () => {
        let start: SessionStart;
        try {
          start = await client.start(this.timeouts.startMs);
          if (start.kind !== 'exec') {
            throw new ValidationError(`a worker session runs commands only, not '${start.kind}'`);
          }
        } catch (error) {
          client.fail(error);
          return;
        }
        await this.serveGuest(client, principal, key, start, undefined, via);
      })().catch((err: unknown) =>
        this.logger().error({ err, instance: pathOf(key) }, 'worker session failed'),
      );
    };
  }

  private async serve(
    client: ClientSocket,
    principal: Principal,
    key: InstanceKey,
    route: SessionRoute,
    ticketId: string | undefined,
  ) {
    let start: SessionStart;
    try {
      start = await client.start(this.timeouts.startMs);
      if ((start.kind === 'logs') !== (route === 'logs')) {
        throw new ValidationError(
          start.kind === 'logs'
            ? "a logs session goes to the instance's logs route"
            : `the logs route serves logs sessions only, not '${start.kind}'`,
        );
      }
    } catch (error) {
      client.fail(error);
      return;
    }
    if (start.kind === 'logs') return this.serveLogs(client, principal, key, start);
    return this.serveGuest(client, principal, key, start, ticketId);
  }

  /**
   * The console as the instance's node keeps it, read in any status (a sleeping instance is
   * not woken), or the workload's output, which the guest keeps (woken first, as for exec).
   * Not audited: nothing in the guest runs or changes (a wake is audited as the caller's).
   */
  private async serveLogs(
    client: ClientSocket,
    principal: Principal,
    key: InstanceKey,
    start: LogsStart,
  ) {
    let outcome: SessionOutcome;
    try {
      const instance = start.console
        ? await loadInstance(this.deps.store, key)
        : await this.ensureRunning(principal, key, client.gone.signal);
      if (instance.nodeId === null) {
        throw new ConflictError(
          `instance '${pathOf(key)}' is not placed on a node yet, so it has no console`,
          { status: instance.status },
        );
      }
      outcome = await this.relay(client, instance.nodeId, key, start);
    } catch (error) {
      outcome = { kind: 'error', error: sessionError(error) };
    }
    const last = finalMessage(outcome);
    if (last) client.end(last);
  }

  private async serveGuest(
    client: ClientSocket,
    principal: Principal,
    key: InstanceKey,
    start: GuestStart,
    ticketId: string | undefined,
    via?: Record<string, unknown>,
  ) {
    const started = this.deps.clock.now().getTime();
    let outcome: SessionOutcome;
    try {
      const instance = await this.ensureRunning(principal, key, client.gone.signal);
      outcome = await this.relay(client, instance.nodeId ?? '', key, start);
    } catch (error) {
      outcome = { kind: 'error', error: sessionError(error) };
    }
    const ms = this.deps.clock.now().getTime() - started;
    await this.record(principal, key, start, outcome, ms, ticketId, via);
    const last = finalMessage(outcome);
    if (last) client.end(last);
  }

  /** The session relayed through the node's tunnel, once it is connected; logged when it ends. */
  private async relay(
    client: ClientSocket,
    nodeId: string,
    key: InstanceKey,
    start: SessionStart,
  ): Promise<SessionOutcome> {
    const tunnel = await this.tunnels.require(nodeId, this.timeouts.tunnelMs);
    const relayed = await relaySession(client, tunnel, key, start);
    this.logger().info(
      {
        instance: pathOf(key),
        kind: start.kind,
        ...relayed.figures,
        outcome: relayed.outcome.kind,
      },
      'session ended',
    );
    return relayed.outcome;
  }

  /**
   * The instance, running: a warm or sleeping one is asked to wake (as the caller, so the
   * audit trail shows who woke it) and awaited until its node reports it running.
   */
  private async ensureRunning(
    principal: Principal,
    key: InstanceKey,
    signal: AbortSignal,
  ): Promise<Instance> {
    const instance = await loadInstance(this.deps.store, key);
    if (instance.desiredStatus === 'warm' || instance.desiredStatus === 'sleeping') {
      await this.instances.act(principal, key, { action: 'wake' });
    } else if (instance.desiredStatus !== 'running') {
      throw notRunning(key, instance);
    }
    return waitUntil(() => this.runningNow(key), {
      clock: this.deps.clock,
      timeoutMs: this.timeouts.wakeMs,
      intervalMs: 200,
      what: `instance '${pathOf(key)}' to be running on its node`,
      signal,
    });
  }

  private async runningNow(key: InstanceKey): Promise<Instance | undefined> {
    const now = await loadInstance(this.deps.store, key);
    if (now.desiredStatus !== 'running') throw new AbortWait(notRunning(key, now));
    if (now.status === 'failed') {
      throw new AbortWait(
        new ConflictError(
          `instance '${pathOf(key)}' failed on its node: ${now.failureReason ?? 'no reason given'}`,
        ),
      );
    }
    return now.status === 'running' && now.nodeId !== null ? now : undefined;
  }

  private async record(
    principal: Principal,
    key: InstanceKey,
    start: GuestStart,
    outcome: SessionOutcome,
    ms: number,
    ticketId: string | undefined,
    via?: Record<string, unknown>,
  ): Promise<void> {
    const detail = {
      ...sessionDetail(start),
      ...outcomeDetail(outcome),
      durationMs: ms,
      ...(via ? { via } : {}),
    };
    // Opened with a session ticket: the event names it, as the ticket's own event names this.
    if (ticketId !== undefined) Object.assign(detail, { ticketId });
    if (principal.kind !== 'node' && principal.tokenId !== undefined)
      Object.assign(detail, { tokenId: principal.tokenId });
    await audit(this.deps.store, this.deps, principal, {
      tenantId: key.tenantId,
      action: actionOf[start.kind],
      target: pathOf(key),
      detail,
    }).catch((err: unknown) =>
      this.logger().error({ err, instance: pathOf(key) }, 'session audit event not written'),
    );
  }

  private logger(): Logger {
    return this.deps.logger ?? silentLogger;
  }
}

function notRunning(key: InstanceKey, instance: Instance): ConflictError {
  return new ConflictError(
    `instance '${pathOf(key)}' is ${instance.desiredStatus === 'destroyed' ? 'being destroyed' : instance.desiredStatus}: start it with 'mvm instance start ${pathOf(key)}' first`,
    { desiredStatus: instance.desiredStatus, status: instance.status },
  );
}

/** What the session was: the command line as given (environment names only), or the copy. */
function sessionDetail(start: GuestStart): Record<string, unknown> {
  if (start.kind === 'put' || start.kind === 'get') {
    return {
      direction: start.kind === 'put' ? 'into-instance' : 'from-instance',
      path: start.path,
      ...(start.kind === 'put' ? { mode: start.mode } : {}),
    };
  }
  return {
    argv: start.argv ?? [...DEFAULT_SHELL_ARGV],
    tty: start.kind === 'pty',
    ...(start.env ? { envNames: Object.keys(start.env).sort() } : {}),
    ...(start.cwd !== undefined ? { cwd: start.cwd } : {}),
    ...(start.user !== undefined ? { user: start.user } : {}),
    ...(start.kind === 'exec' && start.timeoutMs !== undefined
      ? { timeoutMs: start.timeoutMs }
      : {}),
  };
}

function outcomeDetail(outcome: SessionOutcome): Record<string, unknown> {
  if (outcome.kind === 'disconnected') return { exitCode: null, disconnected: true };
  if (outcome.kind === 'error')
    return { exitCode: null, error: outcome.error.code, message: outcome.error.message };
  const { code, signal, timedOut, bytes } = outcome.exit;
  return {
    exitCode: code,
    ...(signal !== undefined ? { signal } : {}),
    ...(timedOut ? { timedOut } : {}),
    ...(bytes !== undefined ? { bytes } : {}),
  };
}

/**
 * The exec path without a VM: a real coordinator (HTTP listener, WebSocket routes), a node
 * whose agent side is the real tunnel client (`keepTunnel`) serving sessions through the real
 * guest client into the real static guest agent run on the host, and the CLI in-process
 * against the listener. Only the VM is missing: what runs, runs on this host.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import pino from 'pino';
import type { InstanceRef } from '../../src/agent/runtime/instance-runtime.ts';
import { openConsoleStream } from '../../src/agent/runtime/console-stream.ts';
import { readWorkloadLog, tailWorkloadLog } from '../../src/drivers/guest-channel/workload-log.ts';
import type { GuestSessions } from '../../src/agent/tunnel/guest-sessions.ts';
import { keepTunnel, type TunnelState } from '../../src/agent/tunnel/tunnel-client.ts';
import { runCli } from '../../src/cli/main.ts';
import type { Terminal, TerminalControl } from '../../src/cli/terminal.ts';
import { ConflictError } from '../../src/core/errors.ts';
import { systemClock } from '../../src/drivers/clock/system-clock.ts';
import { createApiClient, type ApiClient } from '../../src/drivers/coordinator-api/api-client.ts';
import { GuestAgentClient } from '../../src/drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../src/drivers/guest-channel/guest-transport.ts';
import type { Logger } from '../../src/ports/logger.ts';
import { startHostAgent, type HostAgent } from './host-agent.ts';
import { serveTestCoordinator } from './served-coordinator.ts';
import { until } from './until.ts';

export const ADMIN = 'exec-world-admin-token-0123456789abcdef';

/**
 * Guest sessions of one instance, served by the static agent on this host; its console is
 * `consoleFile` (none: an instance whose VMM never wrote one), read as the agent reads one.
 */
export class HostGuestSessions implements GuestSessions {
  constructor(
    private readonly client: GuestAgentClient,
    private readonly instance: () => string,
    private readonly consoleFile = '/nonexistent/console.log',
  ) {}

  private check(ref: InstanceRef): GuestAgentClient {
    if (ref.instanceId !== this.instance()) {
      throw new ConflictError(`instance '${ref.instanceId}' does not run on this test node`);
    }
    return this.client;
  }

  exec: GuestSessions['exec'] = (ref, request, options) => this.check(ref).exec(request, options);
  openPty: GuestSessions['openPty'] = (ref, request, options) =>
    this.check(ref).openPty(request, options);
  putFile: GuestSessions['putFile'] = (ref, path, source, options) =>
    this.check(ref).putFile(path, source, options);
  getFile: GuestSessions['getFile'] = (ref, path) => this.check(ref).getFile(path);
  workloadLogs: GuestSessions['workloadLogs'] = (ref, query) =>
    query.from !== undefined
      ? readWorkloadLog(this.check(ref), query.from)
      : tailWorkloadLog(this.check(ref), query.tail ?? 100);
  consoleLog: GuestSessions['consoleLog'] = async (ref, options) => {
    this.check(ref);
    return openConsoleStream(this.consoleFile, options);
  };
}

/** Log lines written as JSON, kept for assertions (the figures sessions log). */
export class LogLines {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });

  with(msg: string): Array<Record<string, unknown>> {
    return this.lines.filter((line) => line['msg'] === msg);
  }
}

/** An agent-side logger that keeps what it logs. */
export function keepingLogger(into: Array<{ msg: string; obj: object }>): Logger {
  const keep = (obj: object, msg?: string) => into.push({ msg: msg ?? '', obj });
  return { debug: keep, info: keep, warn: keep, error: keep };
}

export interface CliResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface CliOptions {
  /** Fed to the CLI's stdin (default: an empty stdin that ends at once). */
  stdin?: Readable;
  /** Delays every stdout write's completion by this many ms: a slow reader. */
  slowStdoutMs?: number;
  token?: string;
  tty?: TerminalControl;
  /** Resolves with a signal name when the CLI should get it (like ^C). */
  shutdown?: Promise<string>;
  /** Called with each stdout chunk as it arrives. */
  onStdout?: (chunk: Buffer) => void;
}

const CA_FILE = '/mvm-test/ca.crt';

export interface ExecWorld {
  url: string;
  api: ApiClient;
  dataDir: string;
  instance: string;
  ref: string;
  /** The instance's console on the test node (absent until a test writes it). */
  consoleFile: string;
  tokens: { acme: string; rival: string };
  rivalRef: string;
  tunnel: TunnelState;
  host: HostAgent;
  logs: LogLines;
  agentLog: Array<{ msg: string; obj: object }>;
  mvm(argv: readonly string[], options?: CliOptions): Promise<CliResult>;
  /** Stops the coordinator and starts it again on the same port and database. */
  restartCoordinator(): Promise<void>;
  close(): Promise<void>;
}

async function fixtures(api: ApiClient) {
  await api.call('registerNode', {
    params: { node: 'n1' },
    body: { hostname: 'n1', arch: 'x86_64', capacity: { vcpus: 8, memMib: 8192, diskGib: 10 } },
  });
  const tokens = { acme: '', rival: '' };
  const instances: Record<string, string> = {};
  for (const tenant of ['acme', 'rival'] as const) {
    await api.call('createTenant', { body: { id: tenant } });
    await api.call('createPool', {
      params: { tenant },
      body: { id: 'web', flake: '.', profile: 'minimal', vcpus: 1, memMib: 256 },
    });
    const scaled = await api.call('scalePool', {
      params: { tenant, pool: 'web' },
      body: { running: 1 },
    });
    const id = scaled.created[0]?.id ?? '';
    instances[tenant] = id;
    await api.call('runScheduler', {});
    await api.call('reportInstanceStatus', {
      params: { node: 'n1', tenant, pool: 'web', instance: id },
      body: { status: 'running' },
    });
    tokens[tenant] = (
      await api.call('createToken', { params: { tenant }, body: { name: `${tenant}-ci` } })
    ).token;
  }
  return { tokens, instances };
}

/** A byte sink; `slowMs` delays each write's completion (a reader that keeps up slowly). */
function sink(slowMs = 0, onChunk?: (chunk: Buffer) => void) {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      onChunk?.(chunk);
      if (slowMs > 0) setTimeout(callback, slowMs);
      else callback();
    },
  });
  return { stream, bytes: () => Buffer.concat(chunks) };
}

/** The CLI in-process against a listening coordinator, with its streams captured. */
export function cliAt(
  url: string,
  token: string,
  caPem?: string,
): (argv: readonly string[], options?: CliOptions) => Promise<CliResult> {
  return async (argv, options = {}) => {
    const stdout = sink(options.slowStdoutMs, options.onStdout);
    const stderr = sink();
    const terminal: Terminal = {
      stdin: options.stdin ?? Readable.from([]),
      stdout: stdout.stream,
      stderr: stderr.stream,
      ...(options.tty ? { tty: options.tty } : {}),
    };
    let text = '';
    const code = await runCli(argv, {
      env: {
        MVM_COORDINATOR_URL: url,
        MVM_TOKEN: options.token ?? token,
        ...(caPem !== undefined ? { MVM_CA_FILE: CA_FILE } : {}),
      },
      readText: (path) => (path === CA_FILE ? caPem : undefined),
      stdout: { write: (chunk: string) => (text += chunk) },
      stderr: { write: (chunk: string) => stderr.stream.write(chunk) },
      terminal,
      untilShutdown: () => options.shutdown ?? new Promise<string>(() => undefined),
    });
    return {
      code,
      stdout: Buffer.concat([stdout.bytes(), Buffer.from(text)]),
      stderr: stderr.bytes().toString('utf8'),
    };
  };
}

export async function startExecWorld(databaseUrl: string): Promise<ExecWorld> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mvm-exec-'));
  const logs = new LogLines();
  const coordinator = await serveTestCoordinator({
    dir: dataDir,
    databaseUrl,
    adminToken: ADMIN,
    restartable: true,
    logger: pino({ level: 'info' }, logs.stream),
    settings: { execTimeouts: { wakeMs: 20_000, tunnelMs: 10_000 } },
  });
  const { url } = coordinator;
  const api = createApiClient({ baseUrl: url, token: ADMIN });
  const { tokens, instances } = await fixtures(api);
  const instance = instances['acme'] ?? '';
  const host = await startHostAgent();
  const client = new GuestAgentClient(unixSocketTransport(host.socket), {
    requestTimeoutMs: 5_000,
  });
  const agentLog: Array<{ msg: string; obj: object }> = [];
  const abort = new AbortController();
  const tunnel = keepTunnel({
    baseUrl: url,
    nodeId: 'n1',
    auth: () => ({ token: ADMIN }),
    guests: new HostGuestSessions(client, () => instance, join(dataDir, 'console.log')),
    clock: systemClock,
    logger: keepingLogger(agentLog),
    signal: abort.signal,
    backoff: { minMs: 100, maxMs: 500 },
  });
  await until('the node tunnel', () => tunnel.state.connected || undefined, 10_000, 20);

  const mvm = cliAt(url, ADMIN);

  return {
    url,
    api,
    dataDir,
    instance,
    ref: `acme/web/${instance}`,
    consoleFile: join(dataDir, 'console.log'),
    rivalRef: `rival/web/${instances['rival'] ?? ''}`,
    tokens,
    tunnel: tunnel.state,
    host,
    logs,
    agentLog,
    mvm,
    async restartCoordinator() {
      await coordinator.stop();
      await coordinator.start();
    },
    async close() {
      abort.abort();
      await tunnel.done;
      client.close();
      await coordinator.close();
      await host.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A stdin the test writes to as it goes. */
export function liveStdin(): PassThrough {
  return new PassThrough();
}

/** A terminal's controls as a test drives them: its size, resizes, raw mode switches. */
export function testTty(initial: { cols: number; rows: number }) {
  let size = initial;
  let listener: () => void = () => undefined;
  const raw: boolean[] = [];
  const control: TerminalControl = {
    setRawMode: (on) => void raw.push(on),
    size: () => size,
    onResize: (next) => {
      listener = next;
      return () => (listener = () => undefined);
    },
  };
  return {
    raw,
    control,
    resize(next: { cols: number; rows: number }) {
      size = next;
      listener();
    },
  };
}

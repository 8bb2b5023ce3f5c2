import { request } from 'node:http';
import { connect } from 'node:net';
import { errorMessage, HostError, UnavailableError } from '../../core/errors.ts';
import type { Clock } from '../../ports/clock.ts';
import { AbortWait, waitUntil } from '../process/wait-until.ts';

/** Firecracker answers quickly or not at all; a hung VMM must not hang the agent. */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Firecracker binds its socket within a few ms; a refused connect costs microseconds. */
const SOCKET_POLL_MS = 1;

export type ApiMethod = 'GET' | 'PUT' | 'PATCH';

export interface ApiResponse {
  status: number;
  body: unknown;
}

/** A minimal JSON client for Firecracker's API over its Unix socket. */
export class FirecrackerApiClient {
  readonly socketPath: string;
  private readonly timeoutMs: number;

  constructor(socketPath: string, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
    this.socketPath = socketPath;
    this.timeoutMs = timeoutMs;
  }

  async get(path: string): Promise<unknown> {
    return (await this.call('GET', path)).body;
  }

  async put(path: string, body: object): Promise<void> {
    await this.call('PUT', path, body);
  }

  async patch(path: string, body: object): Promise<void> {
    await this.call('PATCH', path, body);
  }

  /** Any 2xx is success; anything else becomes a HostError carrying Firecracker's fault_message. */
  async call(method: ApiMethod, path: string, body?: object): Promise<ApiResponse> {
    const response = await this.send(method, path, body);
    if (response.status >= 200 && response.status < 300) return response;
    const fault = faultMessage(response.body);
    throw new HostError(
      `firecracker ${method} ${path} failed with HTTP ${response.status}: ${fault}; see the VM's firecracker log for details`,
      { method, path, status: response.status, faultMessage: fault, socket: this.socketPath },
    );
  }

  private send(method: ApiMethod, path: string, body?: object): Promise<ApiResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          // One connection per request: a pooled keep-alive socket outlives a VMM restart and
          // Firecracker's small HTTP server is not built for idle connections.
          agent: false,
          path,
          method,
          headers: requestHeaders(payload),
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: parseBody(Buffer.concat(chunks)) }),
          );
          res.on('error', (error) => reject(this.transportError(method, path, error)));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (error) => reject(this.transportError(method, path, error)));
      req.end(payload);
    });
  }

  private transportError(method: string, path: string, error: Error): HostError {
    return new HostError(
      `firecracker API ${method} ${path} on ${this.socketPath} failed: ${error.message}; is the VMM process still running?`,
      { method, path, socket: this.socketPath },
    );
  }
}

function requestHeaders(payload: string | undefined): Record<string, string | number> {
  const headers: Record<string, string | number> = {
    Accept: 'application/json',
    Connection: 'close',
  };
  if (payload !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = Buffer.byteLength(payload);
  }
  return headers;
}

function parseBody(raw: Buffer): unknown {
  const text = raw.toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function faultMessage(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'fault_message' in body) {
    const fault = (body as { fault_message: unknown }).fault_message;
    if (typeof fault === 'string') return fault;
  }
  if (typeof body === 'string' && body !== '') return body;
  return 'no fault message';
}

/** Resolves once something accepts connections on `socketPath`. */
export function socketAccepts(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface WaitForSocketOptions {
  clock: Clock;
  timeoutMs: number;
  /** Stops the wait early, e.g. when the VMM process already exited. */
  abandon?: () => string | undefined;
}

/** Readiness strategy for a freshly spawned VMM: its API socket accepts a connection. */
export async function waitForSocket(
  socketPath: string,
  options: WaitForSocketOptions,
): Promise<void> {
  const accepting = async () => {
    if (await socketAccepts(socketPath)) return true;
    const reason = options.abandon?.();
    if (reason === undefined) return undefined;
    throw new AbortWait(
      new HostError(`firecracker API socket ${socketPath} never came up: ${reason}`, {
        socket: socketPath,
      }),
    );
  };
  await waitUntil(accepting, {
    clock: options.clock,
    timeoutMs: options.timeoutMs,
    intervalMs: SOCKET_POLL_MS,
    what: `firecracker API socket ${socketPath} to accept connections (see the VM's firecracker log)`,
  });
}

/**
 * Firecracker before 1.4 can lose a request between its API and VMM threads (fixed upstream:
 * "race condition ... misconfiguration of the api_event_fd") and then never answers again.
 */
export function unresponsiveVmm(
  vm: { key: string; pid: number },
  cause: unknown,
): UnavailableError {
  const why = errorMessage(cause);
  return new UnavailableError(
    `firecracker of VM '${vm.key}' (pid ${vm.pid}) is alive but its API does not answer (${why}); stop the VM and start or restore it again`,
    { key: vm.key, pid: vm.pid },
  );
}

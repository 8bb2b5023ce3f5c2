/**
 * The per-node metadata endpoint guests reach at a link-local address (169.254.169.254:80
 * in production). It answers only with the caller's own identity, found by source address:
 * the bridge's anti-spoofing rules make a guest's source IP its instance's IP, and the input
 * rules only admit it from its own tenant bridge, so the address is a trustworthy key.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CallerLimits, type CallerLimitSettings } from './caller-limits.ts';

export interface InstanceIdentity {
  tenant: string;
  pool: string;
  instance: string;
  ip: string;
  revision: string;
}

export interface MetadataServerOptions {
  /** The link-local address to bind (it must already be on the tenant bridges). */
  host: string;
  port: number;
  /** The identity of the instance holding this IP on this node, if any. */
  lookup(ip: string): InstanceIdentity | undefined;
  /** Per-caller rate and connections; default DEFAULT_CALLER_LIMITS. */
  limits?: CallerLimitSettings;
}

/** A request is one short GET: a caller slower than this at sending it is cut off. */
const REQUEST_TIMEOUT_MS = 5_000;

export const IDENTITY_PATH = '/v1/identity';

/** `::ffff:10.240.5.3` (an IPv4 caller on a dual-stack socket) is just 10.240.5.3. */
function callerIp(socket: Socket): string {
  const remote = socket.remoteAddress ?? '';
  return remote.startsWith('::ffff:') ? remote.slice('::ffff:'.length) : remote;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export class MetadataServer {
  private server: Server | undefined;
  private readonly limits: CallerLimits;

  constructor(private readonly options: MetadataServerOptions) {
    this.limits = new CallerLimits(options.limits);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const waitMs = this.limits.request(callerIp(req.socket));
    if (waitMs > 0) {
      res.setHeader('retry-after', String(Math.ceil(waitMs / 1000)));
      send(res, 429, {
        error: { code: 'unavailable', message: `too many requests; retry in ${waitMs} ms` },
      });
      return;
    }
    if (req.method !== 'GET') {
      send(res, 405, { error: { code: 'invalid_argument', message: 'only GET is served here' } });
      return;
    }
    const path = (req.url ?? '').split('?')[0];
    const ip = callerIp(req.socket);
    const identity = path === IDENTITY_PATH ? this.options.lookup(ip) : undefined;
    if (!identity) {
      // Same answer for an unknown path and an unknown caller: nothing to learn by probing.
      send(res, 404, { error: { code: 'not_found', message: `no metadata for ${ip} at ${path}` } });
      return;
    }
    send(res, 200, identity);
  }

  async start(): Promise<AddressInfo> {
    const server = createServer({ maxHeaderSize: 8 * 1024 }, (req, res) => this.handle(req, res));
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.headersTimeout = REQUEST_TIMEOUT_MS;
    // Over its share of connections a caller's new ones are closed before any byte is read.
    server.on('connection', (socket: Socket) => {
      const caller = callerIp(socket);
      if (!this.limits.connect(caller)) {
        socket.destroy();
        return;
      }
      socket.once('close', () => this.limits.disconnect(caller));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  /** Idempotent: closing a server that never started (or already stopped) does nothing. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

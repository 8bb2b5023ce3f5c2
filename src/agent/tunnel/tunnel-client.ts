import type { IncomingMessage } from 'node:http';
import { WebSocket, type ClientOptions } from 'ws';
import { errorMessage } from '../../core/errors.ts';
import { MAX_SESSION_MESSAGE } from '../../contract/exec.ts';
import { decodeTunnelFrame } from '../../drivers/exec-tunnel/tunnel-frames.ts';
import { abortableSleep } from '../../drivers/process/wait-until.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Logger } from '../../ports/logger.ts';
import type { TlsMaterial } from '../join/https-fetch.ts';
import type { GuestSessions } from './guest-sessions.ts';
import { TunnelSessions } from './tunnel-sessions.ts';

/** How the agent proves itself: its node certificate (joined) or a token (development). */
export interface TunnelAuth {
  token?: string;
  tls?: TlsMaterial;
}

export interface TunnelOptions {
  /** The coordinator's base URL (http or https). */
  baseUrl: string;
  nodeId: string;
  /** Read for every connection, so a renewed certificate is used from the next one on. */
  auth: () => TunnelAuth;
  guests: GuestSessions;
  clock: Clock;
  logger: Logger;
  signal: AbortSignal;
  /** Reconnect delays: doubling from min to max (default 250 ms to 5 s). */
  backoff?: { minMs: number; maxMs: number };
  /** A connection whose pong does not come back within this is dropped (default 15 s). */
  pingMs?: number;
}

/** Whether the tunnel is up now (tests and stats read it). */
export interface TunnelState {
  readonly connected: boolean;
  /** Connections made so far (a reconnect adds one). */
  readonly connections: number;
}

export function tunnelUrl(baseUrl: string, nodeId: string): string {
  const url = new URL(
    `${baseUrl.replace(/\/+$/, '')}/v1/nodes/${encodeURIComponent(nodeId)}/tunnel`,
  );
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/**
 * Keeps this node's tunnel to the coordinator open until `signal` aborts: the agent's own
 * outbound connection (mTLS when joined), over which the coordinator opens sessions into the
 * node's guests, so the node needs no inbound port. Reconnects with backoff; a lost
 * connection cancels its sessions.
 */
export function keepTunnel(options: TunnelOptions): { state: TunnelState; done: Promise<void> } {
  const state = { connected: false, connections: 0 };
  const done = (async () => {
    const { minMs, maxMs } = options.backoff ?? { minMs: 250, maxMs: 5_000 };
    let delay = minMs;
    while (!options.signal.aborted) {
      const lasted = await connectOnce(options, () => {
        state.connected = true;
        state.connections += 1;
        delay = minMs;
      });
      state.connected = false;
      if (options.signal.aborted) break;
      if (lasted)
        options.logger.warn({ retryInMs: delay }, 'coordinator tunnel lost; reconnecting');
      await abortableSleep(options.clock, delay, options.signal);
      delay = Math.min(maxMs, delay * 2);
    }
  })();
  return { state, done };
}

/**
 * A WebSocket to the coordinator as this node: its token or its certificate (read per
 * connection, so renewals apply), session-sized messages, no compression. The tunnel and the
 * worker-exec sockets (worker-exec/open-worker-session.ts) open theirs this way.
 */
export function nodeSocketOptions(auth: TunnelAuth, handshakeTimeout: number): ClientOptions {
  const { token, tls } = auth;
  return {
    headers: token !== undefined ? { authorization: `Bearer ${token}` } : {},
    ...(tls
      ? {
          ca: tls.caPem,
          ...(tls.certificatePem !== undefined ? { cert: tls.certificatePem } : {}),
          ...(tls.keyPem !== undefined ? { key: tls.keyPem } : {}),
        }
      : {}),
    maxPayload: MAX_SESSION_MESSAGE,
    perMessageDeflate: false,
    handshakeTimeout,
  };
}

/** One connection, until it closes; true when it was open (not refused or unreachable). */
function connectOnce(options: TunnelOptions, onOpen: () => void): Promise<boolean> {
  const ws = new WebSocket(
    tunnelUrl(options.baseUrl, options.nodeId),
    nodeSocketOptions(options.auth(), 10_000),
  );
  const sessions = new TunnelSessions(options.guests, (frame) => ws.send(frame), options.logger);
  return new Promise((resolve) => {
    let opened = false;
    let alive = true;
    let ping: NodeJS.Timeout | undefined;
    // A clean close, but no waiting on a coordinator that no longer answers.
    const stop = (): void => {
      ws.close(1001, 'agent stopping');
      setTimeout(() => ws.terminate(), 1_000).unref();
    };
    options.signal.addEventListener('abort', stop, { once: true });
    ws.on('open', () => {
      opened = true;
      onOpen();
      options.logger.info({ nodeId: options.nodeId }, 'coordinator tunnel open');
      ping = setInterval(() => {
        if (!alive) return void ws.terminate();
        alive = false;
        ws.ping();
      }, options.pingMs ?? 15_000);
    });
    ws.on('pong', () => (alive = true));
    ws.on('message', (data, isBinary) => {
      try {
        if (!isBinary) throw new Error('a text message on the tunnel');
        sessions.onFrame(decodeTunnelFrame(data as Buffer));
      } catch (error) {
        options.logger.warn({ error: errorMessage(error) }, 'bad tunnel frame; reconnecting');
        ws.close(1002, 'protocol error');
      }
    });
    ws.on('unexpected-response', (_request, response) => {
      void refusal(response).then((reason) => {
        options.logger.warn(
          { status: response.statusCode, reason },
          'coordinator refused the tunnel',
        );
        ws.terminate();
      });
    });
    ws.on('error', (error) =>
      options.logger.debug({ error: error.message }, 'coordinator tunnel error'),
    );
    ws.on('close', () => {
      clearInterval(ping);
      options.signal.removeEventListener('abort', stop);
      sessions.cancelAll();
      resolve(opened);
    });
  });
}

/** What the coordinator said when it refused the upgrade (its error message, if JSON). */
async function refusal(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
  } catch {
    return text.slice(0, 500);
  }
}

import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Context } from 'hono';
import { WebSocketServer, type WebSocket } from 'ws';
import { errorMessage } from '../core/errors.ts';
import { MAX_SESSION_MESSAGE } from '../contract/exec.ts';
import type { Logger } from '../ports/logger.ts';
import type { SocketSession } from './services/exec-service.ts';

/**
 * Offered to the app on an upgrade request: a WebSocket route that admits the request (its
 * scope, its path, its handler) accepts the upgrade with the session to run on the socket.
 */
export interface UpgradeSlot {
  accept(session: SocketSession): void;
}

/** The bindings an upgrade request reaches the app with (like @hono/node-server's). */
export interface UpgradeBindings {
  incoming: IncomingMessage;
  outgoing: undefined;
  upgrade: UpgradeSlot;
}

export function upgradeOf(c: Context): UpgradeSlot | undefined {
  return (c.env as Partial<UpgradeBindings> | undefined)?.upgrade;
}

type AppFetch = (request: Request, env: UpgradeBindings) => Response | Promise<Response>;

/** Every open socket is pinged this often; one that did not answer the last ping is dropped. */
const PING_MS = 20_000;

export interface WebSocketListener {
  /** Closes every accepted socket (an HTTP server's close does not see upgraded ones). */
  close(): void;
}

interface UpgradeServer {
  on(
    event: 'upgrade',
    listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
  ): unknown;
}

/**
 * Serves WebSocket routes on a node HTTP(S) server: every upgrade request goes through the
 * same app as any request, so its route's scope check, path validation and handler decide;
 * only an accepted request is upgraded, any other answer is written back as HTTP.
 */
export function acceptWebSockets(
  server: UpgradeServer,
  fetch: AppFetch,
  logger: Logger,
): WebSocketListener {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_SESSION_MESSAGE,
    perMessageDeflate: false,
  });
  const open = new Set<WebSocket>();
  const alive = new WeakSet<WebSocket>();
  // A client or agent that vanished (a closed laptop, a cut network) is found and dropped.
  const pings = setInterval(() => {
    for (const ws of open) {
      if (!alive.delete(ws)) ws.terminate();
      else ws.ping();
    }
  }, PING_MS);
  pings.unref();
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => undefined);
    upgrade(req, socket, head).catch((error: unknown) => {
      logger.error({ err: error, path: req.url }, 'upgrade failed');
      socket.destroy();
    });
  });

  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    let accepted: SocketSession | undefined;
    const websocket = req.headers.upgrade?.toLowerCase() === 'websocket';
    const slot: UpgradeSlot = {
      accept: (session) => {
        if (websocket) accepted = session;
      },
    };
    const response = await fetch(requestOf(req), {
      incoming: req,
      outgoing: undefined,
      upgrade: slot,
    });
    if (!accepted) return writeResponse(socket, response);
    const session = accepted;
    wss.handleUpgrade(req, socket, head, (ws) => {
      open.add(ws);
      alive.add(ws);
      ws.on('pong', () => alive.add(ws));
      ws.once('close', () => open.delete(ws));
      try {
        session(ws);
      } catch (error) {
        logger.error({ err: error, path: req.url }, 'session did not start');
        ws.close(1011, errorMessage(error).slice(0, 100));
      }
    });
  }

  return {
    close() {
      clearInterval(pings);
      for (const ws of open) ws.terminate();
      open.clear();
      wss.close();
    },
  };
}

function requestOf(req: IncomingMessage): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const host = req.headers.host ?? 'localhost';
  return new Request(new URL(req.url ?? '/', `http://${host}`), {
    method: req.method ?? 'GET',
    headers,
  });
}

/** The app's answer to a request it did not upgrade (a refusal), then the connection closes. */
async function writeResponse(socket: Duplex, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}`];
  response.headers.forEach((value, name) => {
    if (!['content-length', 'connection', 'transfer-encoding'].includes(name))
      lines.push(`${name}: ${value}`);
  });
  lines.push(`content-length: ${body.length}`, 'connection: close', '', '');
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n')), body]));
}

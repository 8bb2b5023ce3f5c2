/**
 * A fetch handler served on loopback whose port can be closed and opened again (the same port
 * once it has one): a coordinator that stops answering and comes back, as a node sees it.
 */
import { serve, type ServerType } from '@hono/node-server';
import { freePort } from './free-port.ts';

export interface ReopenableServer {
  /** Listens (on the port it had, after a stop). */
  start: () => Promise<void>;
  /** Closes the port and every open connection; nothing when already stopped. */
  stop: () => Promise<void>;
  url: () => string;
}

export function reopenableServer(fetch: (request: Request) => Response | Promise<Response>) {
  let server: ServerType | undefined;
  let port = 0;
  const start = async () => {
    // Not the kernel's pick: once closed, that port could go to another test's connection.
    port ||= await freePort();
    await new Promise<void>((done, fail) => {
      server = serve({ fetch, hostname: '127.0.0.1', port }, () => done());
      server.once('error', fail);
    });
  };
  const stop = () =>
    new Promise<void>((done) => {
      if (!server) return done();
      server.close(() => done());
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      server = undefined;
    });
  const url = () => `http://127.0.0.1:${port}`;
  return { start, stop, url } satisfies ReopenableServer;
}

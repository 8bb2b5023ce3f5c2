/**
 * A loopback port nothing listens on now, for a listener a test opens later (a published host
 * port, a private Postgres, a guest's service). Chosen at random below the kernel's ephemeral
 * range: a port the kernel handed out and took back (`listen(0)`, then close) is handed out
 * again to the next outgoing connection of any test running beside this one (every Postgres
 * client, every fetch), which then holds it; stop 33's CI lost a published port that way for
 * the whole 10 s the test waited. Below the range, only another listener can take it.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
export function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/);
    const port = Number(low);
    return Number.isInteger(port) && port > LOWEST + 1_000 ? port : 32_768;
  } catch {
    return 32_768;
  }
}

const listens = (port: number, host: string) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });

/** A port in [10000, the ephemeral range's start) that a listener can take on `host` now. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const end = ephemeralStart();
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = LOWEST + Math.floor(Math.random() * (end - LOWEST));
    if (await listens(port, host)) return port;
  }
  throw new Error(`no free port below ${end} on ${host} after 100 tries`);
}

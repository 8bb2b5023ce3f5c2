import type { GuestDial } from '../netns-dial/netns-dialer.ts';
import type { ListenIn } from '../netns-dial/netns-listener.ts';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../ports/logger.ts';

/** A sleeping instance's service port the node holds connections for. */
export interface HoldingTarget {
  key: string;
  ip: string;
  port: number;
}

/** What woke an instance: every wake is an audit event naming it. */
export interface WakeTrigger {
  kind: 'connect';
  port: number;
  /** The client's address, as the held connection shows it. */
  from: string;
}

export interface HoldingOptions {
  /** Wakes the instance; resolves once it runs. Called once per wake however many connect. */
  wake(key: string, trigger: WakeTrigger): Promise<void>;
  /** How long a connection is held at most: wake plus the guest's service answering. */
  holdMs: number;
  /**
   * Why a connection must not wake this instance here (its move to another node is under
   * way), or undefined: such a connection is reset at once, nothing woken, the reason logged.
   */
  refuse?(key: string): string | undefined;
  /** Where the listeners bind; the trap redirects to the bridge's address. Default 0.0.0.0. */
  host?: string;
  /**
   * Where the listeners and the dials live when not in this process's namespace (an agent
   * with `agent.netns`): listening sockets bound there, and connections to the guests from
   * there. Default: this process's own.
   */
  listen?: ListenIn;
  dial?: GuestDial;
  logger?: Logger;
}

const RETRY_MS = 50;

/**
 * The node's holding listeners: one per (sleeping instance, service port), on a port of its
 * own, which the wake trap redirects that pair's SYNs to (core/wake-trap.ts). A connection is
 * accepted at once and held (paused, nothing read) while the instance wakes, then spliced to
 * the guest's service. All connections arriving during one wake share it (single flight).
 * The hold is bounded: a wake that fails or takes longer than `holdMs`, or a service that
 * does not answer by then, resets the held connections, and the error is logged with the
 * instance and the reason.
 */
export class HoldingListeners {
  private readonly servers = new Map<string, Server>();
  private readonly waking = new Map<string, Promise<void>>();
  private wakes = 0;
  private refusals = 0;

  constructor(private readonly options: HoldingOptions) {}

  /** How many wakes the listeners started. */
  get wakeCount(): number {
    return this.wakes;
  }

  /** How many connections were reset at once because `refuse` named a reason. */
  get refusedCount(): number {
    return this.refusals;
  }

  /** Listens for one pair; resolves with the port the trap must redirect to. */
  async arm(target: HoldingTarget): Promise<number> {
    const id = `${target.key}:${target.port}`;
    const existing = this.servers.get(id);
    if (existing) return portOf(existing);
    const host = this.options.host ?? '0.0.0.0';
    const server = this.options.listen ? await this.options.listen(host) : await listenHere(host);
    // A socket handed over from another namespace is not paused on accept: held unread all
    // the same (nothing consumes it until the splice), at most a read buffer's worth.
    server.on('connection', (socket: Socket) => this.hold(target, socket.pause()));
    server.on('error', (error) =>
      this.options.logger?.warn({ instance: target.key, err: error }, 'holding listener failed'),
    );
    this.servers.set(id, server);
    return portOf(server);
  }

  /** Stops listening for an instance's pairs; connections already held finish their hold. */
  disarm(key: string): void {
    for (const [id, server] of this.servers) {
      if (id.startsWith(`${key}:`)) {
        server.close();
        this.servers.delete(id);
      }
    }
  }

  close(): void {
    for (const server of this.servers.values()) server.close();
    this.servers.clear();
  }

  private hold(target: HoldingTarget, socket: Socket): void {
    const trigger: WakeTrigger = {
      kind: 'connect',
      port: target.port,
      from: socket.remoteAddress ?? '',
    };
    socket.on('error', () => socket.destroy());
    const refusal = this.options.refuse?.(target.key);
    if (refusal !== undefined) {
      this.refusals += 1;
      this.options.logger?.warn(
        { instance: target.key, port: target.port, from: trigger.from, reason: refusal },
        'connection reset at once: the instance is not woken here',
      );
      socket.resetAndDestroy();
      return;
    }
    const deadline = Date.now() + this.options.holdMs;
    void this.wakeOnce(target.key, trigger)
      .then(() =>
        withDeadline(
          dialGuest(target, deadline, this.options.dial),
          deadline,
          'the service did not answer',
        ),
      )
      .then((guest) => splice(socket, guest))
      .catch((error: unknown) => {
        this.options.logger?.warn(
          { instance: target.key, port: target.port, err: error },
          'held connection reset: the instance did not wake and answer within the hold',
        );
        socket.resetAndDestroy();
      });
  }

  private wakeOnce(key: string, trigger: WakeTrigger): Promise<void> {
    const running = this.waking.get(key);
    if (running) return running;
    this.wakes += 1;
    const deadline = Date.now() + this.options.holdMs;
    const wake = withDeadline(
      this.options.wake(key, trigger),
      deadline,
      'the wake took too long',
    ).finally(() => this.waking.delete(key));
    this.waking.set(key, wake);
    return wake;
  }
}

function listenHere(host: string): Promise<Server> {
  const server = createServer({ pauseOnConnect: true });
  return new Promise<Server>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('listener has no port');
  return address.port;
}

export function withDeadline<T>(work: Promise<T>, deadline: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what} (hold bound reached)`)),
      Math.max(0, deadline - Date.now()),
    );
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Connects to the woken guest's service, retrying while it is not listening yet. */
export async function dialGuest(
  target: HoldingTarget,
  deadline: number,
  dial: GuestDial = dialDirect,
): Promise<Socket> {
  for (;;) {
    try {
      return await dial(target.ip, target.port);
    } catch (error) {
      if (Date.now() + RETRY_MS >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
}

/** A TCP connection from this process's own network namespace. */
export function dialDirect(ip: string, port: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const guest = connect({ host: ip, port });
    guest.once('connect', () => {
      guest.off('error', reject);
      resolve(guest);
    });
    guest.once('error', reject);
  });
}

export function splice(client: Socket, guest: Socket): void {
  guest.on('error', () => client.destroy());
  client.on('error', () => guest.destroy());
  client.pipe(guest);
  guest.pipe(client);
  client.resume();
}

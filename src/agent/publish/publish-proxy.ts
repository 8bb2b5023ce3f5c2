import { createServer, type Server, type Socket } from 'node:net';
import { errorMessage } from '../../core/errors.ts';
import { needsWake, pickPublishTarget } from '../../core/published-ports.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Logger } from '../../ports/logger.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import { dialGuest, splice, withDeadline, type WakeTrigger } from '../wake/holding-listener.ts';
import type { GuestDial } from '../netns-dial/netns-dialer.ts';

/** A pool's published port as this node forwards it. */
interface Forward {
  tenantId: string;
  poolId: string;
  guestPort: number;
}

export interface PublishProxyOptions {
  /** Where the listeners bind (`MVM_PUBLISH_ADDRESS`, default 127.0.0.1). */
  host: string;
  /** The node's instance records: which pools publish what, and their instances' statuses. */
  records(): Promise<VmRecord[]>;
  /** Raises a warm or sleeping instance through the runtime; resolves once it runs. */
  wake(record: VmRecord, trigger: WakeTrigger): Promise<VmRecord>;
  /** How long a connection is held at most: a wake plus the service answering. */
  holdMs: number;
  /** How a guest is reached (default: from this process; an agent's netns: its dialer). */
  dial?: GuestDial;
  clock: Clock;
  logger: Logger;
}

/**
 * The node's published ports (core/published-ports.ts): one TCP listener per host port a
 * pool with an instance here publishes, on `host`. A connection is accepted paused and goes
 * to one of the pool's instances here, a running one first; a warm or sleeping one is raised
 * first through the runtime (the wake-on-connect path: one wake however many connect), while
 * the connection is held, not dropped; then it is spliced to the guest's port. A connection
 * nothing can serve, or not within the hold, is reset and the reason logged.
 */
export class PublishProxy {
  private readonly listeners = new Map<number, { server: Server; forward: Forward }>();
  private readonly waking = new Map<string, Promise<VmRecord>>();
  private readonly woken = new Map<string, number>();
  private turn = 0;
  private wakes = 0;

  constructor(private readonly options: PublishProxyOptions) {}

  /** How many wakes connections started. */
  get wakeCount(): number {
    return this.wakes;
  }

  /** When a connection here last woke the instance (epoch ms), if one did. */
  wokenAt(key: string): number | undefined {
    return this.woken.get(key);
  }

  /** The host ports listened on now. */
  ports(): number[] {
    return [...this.listeners.keys()].sort((a, b) => a - b);
  }

  /** Opens the listeners the records ask for and closes the others. */
  async sync(): Promise<void> {
    const wanted = forwardsOf(await this.options.records(), this.options.logger);
    for (const [port, { server, forward }] of this.listeners) {
      const next = wanted.get(port);
      if (next && sameForward(next, forward)) continue;
      server.close();
      this.listeners.delete(port);
      this.options.logger.info({ port, ...forward }, 'published port closed');
    }
    for (const [port, forward] of wanted) {
      if (this.listeners.has(port)) continue;
      await this.listen(port, forward).catch((error: unknown) => {
        this.options.logger.error(
          { port, ...forward, err: errorMessage(error) },
          'published port not opened: the host port is in use on this node; retried on the next pass',
        );
      });
    }
  }

  close(): void {
    for (const { server } of this.listeners.values()) server.close();
    this.listeners.clear();
  }

  private async listen(port: number, forward: Forward): Promise<void> {
    const server = createServer({ pauseOnConnect: true }, (socket) =>
      this.serve(port, forward, socket),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) =>
      this.options.logger.warn({ port, err: errorMessage(error) }, 'published port listener'),
    );
    this.listeners.set(port, { server, forward });
    this.options.logger.info({ port, host: this.options.host, ...forward }, 'published port open');
  }

  private serve(port: number, forward: Forward, socket: Socket): void {
    const deadline = this.options.clock.now().getTime() + this.options.holdMs;
    const from = socket.remoteAddress ?? '';
    socket.on('error', () => socket.destroy());
    void this.target(forward, { kind: 'connect', port: forward.guestPort, from })
      .then((record) =>
        withDeadline(
          dialGuest(
            { key: record.key, ip: record.spec.ip, port: forward.guestPort },
            deadline,
            this.options.dial,
          ),
          deadline,
          'the service did not answer',
        ),
      )
      .then((guest) => splice(socket, guest))
      .catch((error: unknown) => {
        this.options.logger.warn(
          { port, ...forward, from, err: errorMessage(error) },
          'published connection reset: no instance of the pool answered within the hold',
        );
        socket.resetAndDestroy();
      });
  }

  /** The instance the connection goes to, raised first when it is lowered. */
  private async target(forward: Forward, trigger: WakeTrigger): Promise<VmRecord> {
    const candidates = (await this.options.records()).filter(
      (r) => r.tenantId === forward.tenantId && r.poolId === forward.poolId,
    );
    const picked = pickPublishTarget(candidates, this.turn++);
    if (!picked) {
      throw new Error(
        `pool '${forward.tenantId}/${forward.poolId}' has no running, warm or sleeping instance on this node`,
      );
    }
    if (!needsWake(picked.status)) return picked;
    return this.wakeOnce(picked, trigger);
  }

  private wakeOnce(record: VmRecord, trigger: WakeTrigger): Promise<VmRecord> {
    const running = this.waking.get(record.key);
    if (running) return running;
    this.wakes += 1;
    this.woken.set(record.key, this.options.clock.now().getTime());
    const deadline = this.options.clock.now().getTime() + this.options.holdMs;
    const wake = withDeadline(
      this.options.wake(record, trigger),
      deadline,
      'the wake took too long',
    ).finally(() => this.waking.delete(record.key));
    this.waking.set(record.key, wake);
    return wake;
  }
}

/** Host port → pool, from the records' specs; a port two pools claim here keeps neither's second. */
function forwardsOf(records: readonly VmRecord[], logger: Logger): Map<number, Forward> {
  const wanted = new Map<number, Forward>();
  for (const record of records) {
    for (const { hostPort, guestPort } of record.spec.publish ?? []) {
      const forward = { tenantId: record.tenantId, poolId: record.poolId, guestPort };
      const held = wanted.get(hostPort);
      if (!held) wanted.set(hostPort, forward);
      else if (!sameForward(held, forward)) {
        logger.error(
          { port: hostPort, kept: held, refused: forward },
          'two pools publish one host port on this node; the coordinator should have refused it',
        );
      }
    }
  }
  return wanted;
}

function sameForward(a: Forward, b: Forward): boolean {
  return a.tenantId === b.tenantId && a.poolId === b.poolId && a.guestPort === b.guestPort;
}

import { GUEST_AGENT_VSOCK_PORT } from '../../contract/guest-protocol.ts';
import { GuestAgentClient } from '../../drivers/guest-channel/guest-agent-client.ts';
import { unixSocketTransport } from '../../drivers/guest-channel/guest-transport.ts';
import { vsockTransport } from '../../drivers/guest-channel/vsock-transport.ts';
import type { Logger } from '../../ports/logger.ts';
import type { VmHandle } from '../../ports/vmm.ts';

/**
 * One guest-agent client per VM process. A woken VM is a new process with a new socket, so a
 * client is keyed by the socket and replaced when the handle changes (which ends the old
 * client's sessions: the guest kills what they ran).
 */
export class GuestLinks {
  private readonly clients = new Map<string, { socket: string; client: GuestAgentClient }>();
  /** Instances whose guest broke the protocol, with what it did; the runtime fails them. */
  private readonly lies = new Map<string, string>();

  constructor(
    private readonly channel: 'vsock' | 'virtio-serial',
    private readonly logger: Logger,
    private readonly requestTimeoutMs = 5_000,
  ) {}

  for(vm: VmHandle): GuestAgentClient {
    const known = this.clients.get(vm.key);
    if (known?.socket === vm.guestSocket) return known.client;
    known?.client.close();
    const transport =
      this.channel === 'vsock'
        ? vsockTransport(vm.guestSocket, GUEST_AGENT_VSOCK_PORT)
        : unixSocketTransport(vm.guestSocket);
    const client = new GuestAgentClient(transport, {
      logger: this.logger,
      requestTimeoutMs: this.requestTimeoutMs,
      onViolation: (reason) => this.lies.set(vm.key, reason),
    });
    this.clients.set(vm.key, { socket: vm.guestSocket, client });
    return client;
  }

  /** What each lying guest did, by instance key (until dropped). */
  violations(): ReadonlyMap<string, string> {
    return this.lies;
  }

  /** Ends the instance's client; a new VMM process starts with a clean slate. */
  drop(key: string): void {
    this.clients.get(key)?.client.close();
    this.clients.delete(key);
    this.lies.delete(key);
  }

  closeAll(): void {
    for (const key of [...this.clients.keys()]) this.drop(key);
  }
}

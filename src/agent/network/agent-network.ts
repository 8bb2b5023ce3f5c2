import type { DriverLogger } from '../../drivers/process/logger.ts';
import type { HostNetworkState, HostServices, NetworkDriver } from '../../ports/network.ts';
import { MetadataServer } from '../metadata-server.ts';
import type { InstanceIdentity } from '../metadata-server.ts';
import type { VmRepo } from '../state/vm-repo.ts';
import { desiredNetwork, identitiesOf } from './desired-network.ts';

export interface AgentNetworkOptions {
  driver: NetworkDriver;
  vms: VmRepo;
  logger: DriverLogger;
  /** The namespace the driver (and the VMMs) act in; undefined for the root namespace. */
  netns?: string;
  /** Serve the metadata endpoint here (in this process, so in the root namespace only). */
  metadata?: { ip: string; port: number };
}

/**
 * The agent's side of tenant networking: whenever the set of VMs changes in a way the
 * network must follow (before a boot or wake, after a destroy, at start), the whole desired
 * state is derived from the records again and applied. Applying is idempotent and replaces
 * mvm's nft tables atomically, so rules are rebuilt from state and never appended twice.
 */
export class AgentNetwork {
  private queue: Promise<unknown> = Promise.resolve();
  private identities = new Map<string, InstanceIdentity>();
  private metadata: MetadataServer | undefined;

  constructor(private readonly options: AgentNetworkOptions) {}

  get netns(): string | undefined {
    return this.options.netns;
  }

  private get services(): HostServices | undefined {
    const metadata = this.options.metadata;
    return metadata ? { metadata } : undefined;
  }

  /** What this node's tenant network must be, from the records as they are now. */
  async desired(): Promise<HostNetworkState> {
    return desiredNetwork(await this.options.vms.list(), this.services);
  }

  /** Serialized: two instances booting at once must not both create the same bridge. */
  sync(): Promise<HostNetworkState> {
    const next = this.queue.then(() => this.applyNow());
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async applyNow(): Promise<HostNetworkState> {
    const records = await this.options.vms.list();
    const state = desiredNetwork(records, this.services);
    await this.options.driver.apply(state);
    this.identities = identitiesOf(records);
    // The link-local address exists only once a bridge carries it; bind after that.
    if (state.tenants.length > 0) await this.ensureMetadata();
    this.options.logger.debug(
      { tenants: state.tenants.length, taps: state.instances.length },
      'tenant network applied',
    );
    return state;
  }

  private async ensureMetadata(): Promise<void> {
    const where = this.options.metadata;
    if (this.metadata || !where) return;
    const server = new MetadataServer({
      host: where.ip,
      port: where.port,
      lookup: (ip) => this.identities.get(ip),
    });
    try {
      await server.start();
      this.metadata = server;
      this.options.logger.info({ ...where }, 'metadata endpoint listening');
    } catch (error) {
      // Guests lose their identity endpoint, not their network; the next apply retries.
      const why = error instanceof Error ? error.message : String(error);
      this.options.logger.error({ ...where, error: why }, 'metadata endpoint could not bind');
    }
  }

  async close(): Promise<void> {
    const server = this.metadata;
    this.metadata = undefined;
    await server?.close();
  }
}

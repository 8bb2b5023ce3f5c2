import { errorMessage } from '../../core/errors.ts';
import { strayLinks } from '../../core/stray-links.ts';
import type { Logger } from '../../ports/logger.ts';
import type { HostNetworkState, NetworkDriver } from '../../ports/network.ts';
import { MetadataServer } from '../metadata-server.ts';
import type { InstanceIdentity } from '../metadata-server.ts';
import type { VmRepo } from '../state/vm-repo.ts';
import { desiredNetwork, identitiesOf, type NodeNetworkContext } from './desired-network.ts';

export interface AgentNetworkOptions {
  driver: NetworkDriver;
  vms: VmRepo;
  logger: Logger;
  /** The namespace the driver (and the VMMs) act in; undefined for the root namespace. */
  netns?: string;
  /** Serve the metadata endpoint here (in this process, so in the root namespace only). */
  metadata?: { ip: string; port: number };
  /** This node's underlay address (VXLAN source); without it tenants stay on this node. */
  underlayIp?: string;
}

/** What VXLAN over IPv4 adds to every frame: outer IP, UDP and VXLAN headers, inner Ethernet. */
export const VXLAN_OVERHEAD = 50;
/** Assumed when the underlay address is on no interface the driver can see. */
const DEFAULT_UNDERLAY_MTU = 1500;

/**
 * The agent's side of tenant networking: whenever the set of VMs changes in a way the
 * network must follow (before a boot or wake, after a destroy, at start), and on every pass
 * over the desired document (whose VXLAN peers may change alone), the whole desired state is
 * derived from the records and the document's peers again and applied. Applying is
 * idempotent and replaces mvm's nft tables atomically, so rules are never appended twice.
 */
export class AgentNetwork {
  private queue: Promise<unknown> = Promise.resolve();
  private identities = new Map<string, InstanceIdentity>();
  private metadata: MetadataServer | undefined;
  private peers: ReadonlyMap<number, readonly string[]> = new Map();
  private underlayMtu: number | undefined;
  private mtuWarned = false;
  private peersWarned = false;

  constructor(private readonly options: AgentNetworkOptions) {}

  get netns(): string | undefined {
    return this.options.netns;
  }

  get underlayIp(): string | undefined {
    return this.options.underlayIp;
  }

  /**
   * The MTU every tenant guest must use on a node that can carry tenants across nodes: what
   * fits through a VXLAN device. Known after the first sync; undefined without an underlay.
   */
  get guestMtu(): number | undefined {
    if (this.options.underlayIp === undefined) return undefined;
    return (this.underlayMtu ?? DEFAULT_UNDERLAY_MTU) - VXLAN_OVERHEAD;
  }

  /** Which other nodes carry each tenant (by net id), from the current desired document. */
  setPeers(peers: ReadonlyMap<number, readonly string[]>): void {
    this.peers = peers;
    const wanted = [...peers.values()].some((p) => p.length > 0);
    if (wanted && this.options.underlayIp === undefined && !this.peersWarned) {
      this.peersWarned = true;
      this.options.logger.warn(
        {},
        'tenants here also run on other nodes, but this agent has no underlay address; start it with --underlay-ip',
      );
    }
  }

  private context(): NodeNetworkContext {
    const metadata = this.options.metadata;
    const { underlayIp } = this.options;
    const vxlanMtu = this.guestMtu;
    return {
      ...(metadata ? { services: { metadata } } : {}),
      ...(underlayIp !== undefined ? { underlayIp, peers: this.peers } : {}),
      ...(vxlanMtu !== undefined ? { vxlanMtu } : {}),
    };
  }

  /** What this node's tenant network must be, from the records as they are now. */
  async desired(): Promise<HostNetworkState> {
    return desiredNetwork(await this.options.vms.list(), this.context());
  }

  /**
   * mvm-named links the desired state does not own (dead taps, bridges and VXLAN devices of
   * tenants gone from this node): what the next sync deletes. Nothing is touched.
   */
  async strays(): Promise<string[]> {
    const state = await this.desired();
    const { links } = await this.options.driver.observe();
    return strayLinks(state, links).remove;
  }

  /** Serialized: two instances booting at once must not both create the same bridge. */
  sync(): Promise<HostNetworkState> {
    const next = this.queue.then(() => this.applyNow());
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The underlay interface's MTU, read once it is found (a missing address is retried). */
  private async learnUnderlayMtu(): Promise<void> {
    const ip = this.options.underlayIp;
    if (ip === undefined || this.underlayMtu !== undefined) return;
    const { links } = await this.options.driver.observe();
    const link = links.find((l) => l.addresses.some((a) => a.split('/')[0] === ip));
    if (link?.mtu !== undefined) {
      this.underlayMtu = link.mtu;
      return;
    }
    if (this.mtuWarned) return;
    this.mtuWarned = true;
    this.options.logger.warn(
      { underlayIp: ip, assumedMtu: DEFAULT_UNDERLAY_MTU },
      'the underlay address is on no interface here; check --underlay-ip',
    );
  }

  private async applyNow(): Promise<HostNetworkState> {
    await this.learnUnderlayMtu();
    const records = await this.options.vms.list();
    const state = desiredNetwork(records, this.context());
    await this.options.driver.apply(state);
    this.identities = identitiesOf(records);
    // The link-local address exists only once a bridge carries it; bind after that.
    if (state.tenants.length > 0) await this.ensureMetadata();
    const peered = state.tenants.filter((t) => t.vxlanPeers.length > 0).length;
    this.options.logger.debug(
      { tenants: state.tenants.length, taps: state.instances.length, peered },
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
      const why = errorMessage(error);
      this.options.logger.error({ ...where, error: why }, 'metadata endpoint could not bind');
    }
  }

  async close(): Promise<void> {
    const server = this.metadata;
    this.metadata = undefined;
    await server?.close();
  }
}

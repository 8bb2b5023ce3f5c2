import type { AgentMetrics } from '../metrics/agent-metrics.ts';
import type { RevisionCache } from '../artifacts/revision-cache.ts';
import type { Logger } from '../../ports/logger.ts';
import type { Cgroups } from '../../ports/cgroups.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Drives } from '../../ports/drives.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { Vmm } from '../../ports/vmm.ts';
import type { AgentNetwork } from '../network/agent-network.ts';
import type { VmRepo } from '../state/vm-repo.ts';
import type { GuestLinks } from './guest-links.ts';
import type { VmIdentities } from './identities.ts';
import type { ImageSource } from './image-source.ts';
import type { AgentLayout } from './layout.ts';
import type { SecretSource } from './secret-source.ts';
import type { FaultPoint } from '../../core/fault-points.ts';
import type { WakeArming } from '../wake/wake-service.ts';
import type { CloneBases } from '../clones/clone-bases.ts';
import type { WarmReclaim } from './warm-reclaim.ts';

export interface RuntimeTimeouts {
  /** Cold boot until the guest agent answers. */
  guestReadyMs: number;
  /** A restored guest's agent answering again. */
  wakeReadyMs: number;
  /** The guest draining (sync) before a snapshot or a stop. */
  sleepPrepMs: number;
  /** How often a serving agent looks for VMMs that died (an OOM kill, a crash). */
  exitCheckMs: number;
}

export const DEFAULT_TIMEOUTS: RuntimeTimeouts = {
  guestReadyMs: 90_000,
  wakeReadyMs: 20_000,
  sleepPrepMs: 10_000,
  exitCheckMs: 2_000,
};

/** Everything the instance runtime acts through; wired in build-runtime.ts (startAgent). */
export interface RuntimeDeps {
  vmm: Vmm;
  drives: Drives;
  /** Absent on hosts without a cgroup2 mount: VMs then run unconfined (reported in stats). */
  cgroups?: Cgroups;
  images: ImageSource;
  /** Built revisions fetched from the coordinator (node gc removes what no instance uses). */
  revisions?: RevisionCache;
  clock: Clock;
  logger: Logger;
  vms: VmRepo;
  /** Host commands of the runtime itself, in the agent's own namespaces (jail unmounts). */
  runner: ProcessRunner;
  /** The uid/gid each instance's VMM runs as when the driver confines it. */
  identities: VmIdentities;
  guests: GuestLinks;
  layout: AgentLayout;
  timeouts: RuntimeTimeouts;
  /** Tenant networking; absent when off (MVM_NETWORK=off, not root, tests without it). */
  network?: AgentNetwork;
  /** The coordinator's secrets, for instances whose spec names a secrets digest. */
  secrets?: SecretSource;
  /** The fault hook (`MVM_FAULT`): kills the agent at the named point; absent: off. */
  fault?: (point: FaultPoint) => void;
  /** The agent's metrics: each lifecycle step is observed, scrapes read instance counters. */
  metrics?: AgentMetrics;
  /**
   * The node's wake on connect (agent/wake); absent: instances with service ports are never
   * lowered (nothing would wake them).
   */
  wake?: WakeArming;
  /**
   * Clones from pool bases (`MVM_CLONES=on`, docs/clones.md); absent: every start is a cold
   * boot.
   */
  clones?: CloneBases;
  /**
   * The guest drops its caches and reports them free before each warm (`MVM_WARM_RECLAIM=on`,
   * warm-reclaim.ts); absent: off.
   */
  warmReclaim?: WarmReclaim;
  /** The node's published ports (agent/publish): when a connection there last woke an instance. */
  publish?: { wokenAt(key: string): number | undefined };
  /**
   * Wakes this node admitted itself while the coordinator did not answer, not yet reported
   * (agent/wake/wake-admitter.ts): kept running whatever an older document says.
   */
  localWakes?: { unreported(key: string): boolean };
}

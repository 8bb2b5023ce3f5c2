/** The domain's value types. Plain data: no behaviour, no I/O. */
import type { PoolHooks } from './pool-hooks.ts';
import type { PublishedPort } from './published-ports.ts';

export const roles = ['gateway', 'builder', 'worker', 'capability-imessage'] as const;
export type Role = (typeof roles)[number];

export const instanceStatuses = [
  'created',
  'ready',
  'running',
  'warm',
  'sleeping',
  'stopped',
  'failed',
  'destroyed',
] as const;
export type InstanceStatus = (typeof instanceStatuses)[number];

/** What an operator or the materializer may ask an instance to become. */
export const desiredStatuses = ['running', 'warm', 'sleeping', 'stopped', 'destroyed'] as const;
export type DesiredStatus = (typeof desiredStatuses)[number];

export interface Quotas {
  maxVcpus: number;
  maxMemMib: number;
  maxRunning: number;
  maxWarm: number;
  maxPools: number;
  maxInstancesPerPool: number;
  maxDiskGib: number;
}

export interface Tenant {
  id: string;
  netId: number;
  /** CIDR, e.g. 10.240.99.0/24 */
  subnet: string;
  gateway: string;
  quotas: Quotas;
  /** Whether the tenant's guests may reach the outside world (masqueraded by each node). */
  egress: boolean;
  /**
   * Jobs the tenant may have running at once: a claim hands out no more (docs/jobs.md,
   * "Quotas"). Absent or null: no limit of its own. Migration 0024.
   */
  maxRunningJobs?: number | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface PoolCounts {
  running: number;
  warm: number;
  sleeping: number;
}

export interface Pool {
  tenantId: string;
  id: string;
  role: Role;
  /**
   * The image source (core/pool-source.ts): an OCI image ref, or a flake with a profile, or
   * neither (the dev image).
   */
  image: string | null;
  flake: string | null;
  profile: string | null;
  /**
   * The revision the pool's instances should run: one `mvm pool build` recorded for it, or
   * `dev`; null = each node's dev image.
   */
  revision: string | null;
  vcpus: number;
  memMib: number;
  dataDiskMib: number;
  counts: PoolCounts;
  pinned: boolean;
  critical: boolean;
  /** Sleep policy: seconds an instance stays running, then warm, before it may be demoted. */
  minRunningSecs: number;
  minWarmSecs: number;
  /** Idle policy (core/idle-policy.ts): seconds idle before warm, then sleeping; 0 = off. */
  idleWarmAfterSecs: number;
  idleSleepAfterSecs: number;
  /** TCP ports the pool's service listens on: a connection to one wakes a sleeping instance. */
  servicePorts: number[];
  /** Host ports forwarded to the instances' ports by their nodes (core/published-ports.ts). */
  publish?: PublishedPort[];
  /** Guest commands around sleep and wake (core/pool-hooks.ts). */
  hooks?: PoolHooks;
  /** A queue-driven pool (core/jobs/queue-wake.ts); absent or null: the queue does not drive it. */
  queueScale?: { min: number; max: number; shrinkAfterSecs?: number } | null;
  /**
   * Workers the queue added to the running count (queue-grow) and has not removed again:
   * only these go when the queue stays empty (core/jobs/queue-shrink.ts). Absent: 0.
   */
  queueAdded?: number;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface Instance {
  tenantId: string;
  poolId: string;
  id: string;
  ip: string;
  mac: string;
  status: InstanceStatus;
  desiredStatus: DesiredStatus;
  nodeId: string | null;
  revision: string | null;
  /**
   * Why the instance is `failed`, or why its node did not make the last change asked of it
   * (a sleep refused because the guest was busy: it keeps running and is retried); null otherwise.
   */
  failureReason: string | null;
  /** When the observed status last changed (null on rows older than the column). */
  statusSince: string | null;
  /** When the node last reported the instance active (guest, CPU or network); null = never. */
  lastActiveAt: string | null;
  /**
   * When the scheduler put the instance to sleep to make room under memory pressure; null when
   * not held asleep. Such an instance still fills its pool's warm slot.
   */
  pressureSleptAt: string | null;
  /**
   * Asked to sleep with force: its node snapshots it even while the guest is busy (a plain
   * sleep of a busy guest is refused and retried). Absent = false.
   */
  sleepForced?: boolean;
  /**
   * The slot (`running` or `warm`) the instance holds while the idle policy keeps it lower;
   * null when it is where its slot puts it. Like pressureSleptAt, it keeps re-materializing
   * from waking it or starting another in its place.
   */
  idleSlot: 'running' | 'warm' | null;
  /**
   * The revision a rollout pinned it to (its node restarts it on that one) and when; absent or
   * null when not pinned.
   */
  pinnedRevision?: string | null;
  pinnedAt?: string | null;
  /**
   * When the coordinator last lowered its desired status to warm or sleeping (an operator's
   * warm or sleep, the idle policy, memory pressure, its node over capacity); absent when
   * never since migration 0048. A wake its node admitted before that does not undo it.
   */
  loweredAt?: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface NodeCapacity {
  vcpus: number;
  memMib: number;
  diskGib: number;
}

export interface FleetNode {
  id: string;
  hostname: string;
  arch: string;
  capacity: NodeCapacity;
  labels: Record<string, string>;
  status: 'ready' | 'lost' | 'cordoned';
  lastHeartbeat: string | null;
  /** Address other nodes reach this one at (VXLAN underlay); null until the node says. */
  underlayIp: string | null;
  /** What the node's agent last reported using; null before its first heartbeat. */
  usage: NodeUsage | null;
  /**
   * The status it had when declared lost: a cordoned node that fell silent comes back
   * cordoned when it heartbeats again. Absent for a node never lost (or back since).
   */
  lostFrom?: 'ready' | 'cordoned' | null;
  createdAt: string;
  version: number;
}

/** A node's own account of what it runs, sent with every heartbeat. */
export interface NodeUsage {
  vcpus: number;
  /** The sizes of its running and warm instances (what they may hold). */
  memMib: number;
  /**
   * What its running and warm instances hold (core/held-memory.ts: each VMM's resident memory,
   * bounded by the instance's size); absent from agents that do not measure it.
   */
  heldMemMib?: number;
  /** Instances by observed status on the node. */
  instances: Partial<Record<InstanceStatus, number>>;
  /** Free disk under the agent's data directory, MiB. */
  diskFreeMib: number;
  /** The node wakes its warm and sleeping instances on a connection (agent/wake). */
  wakeOnConnect?: boolean;
  /** Its gateways' guests may run commands in their tenant's workers (agent/worker-exec). */
  workerExec?: boolean;
  /** Where the node's published ports listen, when it runs them (agent/publish). */
  publishAddress?: string;
}

export interface AuditEvent {
  id: number;
  tenantId: string | null;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

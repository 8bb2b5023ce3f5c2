import { ValidationError } from './errors.ts';
import { OPENCLAW_PORT } from './openclaw-config.ts';
import { openclawHooks } from './openclaw-profiles.ts';
import type { PoolHooks } from './pool-hooks.ts';
import type { PublishedPort } from './published-ports.ts';
import type { PoolCounts, Quotas, Role } from './model.ts';
import { validatePoolSpec } from './pool-spec.ts';
import { defaultQuotas, quotaKeys, quotaViolations, tenantUsage } from './quotas.ts';

/**
 * What `mvm new openclaw` creates (seed 002 §3): a tenant, a gateway pool and a worker pool
 * with their sizes and counts, and the tenant's quotas: the defaults, raised where the
 * deployment would not fit them. Pure; the CLI carries it out step by step.
 */
export interface OpenclawOptions {
  /** vCPUs of every instance (default 2). */
  cpus?: number;
  /** Memory of every instance, MiB (default: gateways 2048, workers 1024). */
  memMib?: number;
  /** The gateways' memory alone, MiB (over memMib). */
  gatewayMemMib?: number;
  /** The workers' data disk, MiB (default 2048; gateways keep the pool default, 1024). */
  workerDiskMib?: number;
  /** Workers kept running (default 2) and warm (default 1). */
  workers?: number;
  warmWorkers?: number;
  /** Where the images come from: a flake ref, or an image ref recorded as the pools' source. */
  flake?: string;
  image?: string;
  /** The OpenClaw profiles' images (built by mvm), one per role. */
  profileImages?: { gateway: string; worker: string };
  /** The host port each node forwards to the gateway's 18789 (default 18789). */
  hostPort?: number;
}

export interface OpenclawPool {
  id: 'gateways' | 'workers';
  role: Role;
  /** Gateways are never slept under memory pressure; workers may be. */
  critical: boolean;
  vcpus: number;
  memMib: number;
  dataDiskMib: number;
  /** The source (core/pool-source.ts): absent fields mean the dev image. */
  image?: string;
  flake?: string;
  profile?: string;
  counts: PoolCounts;
  /** The gateway's port published on its node (core/published-ports.ts). */
  publish?: PublishedPort[];
  /**
   * How many host ports to try from the first, one after another, while another pool holds
   * it (a host port belongs to one pool in the fleet): 1 for a port given with --host-port.
   */
  hostPortTries?: number;
  /** With the OpenClaw images: suspend before a sleep, resume and reload after a wake. */
  hooks?: PoolHooks;
}

export interface OpenclawPlan {
  quotas: Quotas;
  /** Only the quotas that differ from the defaults (what the tenant is created with). */
  raised: Partial<Quotas>;
  pools: OpenclawPool[];
}

/** Without --host-port: 18789, else the next free of the following ports. */
export const HOST_PORT_TRIES = 100;

export const OPENCLAW_DEFAULTS = {
  cpus: 2,
  memMib: 1024,
  /** OpenClaw idles at 0.75-1 GiB (docs/openclaw.md); upstream recommends 2 GB. */
  gatewayMemMib: 2048,
  gatewayDiskMib: 1024,
  workerDiskMib: 2048,
  workers: 2,
  warmWorkers: 1,
} as const;

/** Both pools share the source: an image, a flake (profile = the role), or the dev image. */
function source(options: OpenclawOptions, role: 'gateway' | 'worker') {
  const given = [options.flake, options.image, options.profileImages].filter(
    (s) => s !== undefined,
  );
  if (given.length > 1) {
    const problem = 'pass one image source: --flake, --image or the OpenClaw profiles';
    throw new ValidationError(problem, [problem]);
  }
  if (options.profileImages !== undefined) return { image: options.profileImages[role] };
  if (options.image !== undefined) return { image: options.image };
  if (options.flake !== undefined) return { flake: options.flake, profile: role };
  return {};
}

function pools(options: OpenclawOptions): OpenclawPool[] {
  const size = {
    vcpus: options.cpus ?? OPENCLAW_DEFAULTS.cpus,
    memMib: options.memMib ?? OPENCLAW_DEFAULTS.memMib,
  };
  const gatewayMemMib = options.gatewayMemMib ?? options.memMib ?? OPENCLAW_DEFAULTS.gatewayMemMib;
  return [
    {
      id: 'gateways',
      role: 'gateway',
      critical: true,
      ...size,
      memMib: gatewayMemMib,
      dataDiskMib: OPENCLAW_DEFAULTS.gatewayDiskMib,
      ...source(options, 'gateway'),
      counts: { running: 1, warm: 0, sleeping: 0 },
      publish: [{ hostPort: options.hostPort ?? OPENCLAW_PORT, guestPort: OPENCLAW_PORT }],
      hostPortTries: options.hostPort === undefined ? HOST_PORT_TRIES : 1,
      ...(options.profileImages !== undefined ? { hooks: openclawHooks() } : {}),
    },
    {
      id: 'workers',
      role: 'worker',
      critical: false,
      ...size,
      dataDiskMib: options.workerDiskMib ?? OPENCLAW_DEFAULTS.workerDiskMib,
      ...source(options, 'worker'),
      counts: {
        running: options.workers ?? OPENCLAW_DEFAULTS.workers,
        warm: options.warmWorkers ?? OPENCLAW_DEFAULTS.warmWorkers,
        sleeping: 0,
      },
    },
  ];
}

/** The usage the deployment leads to, as the coordinator's quota check computes it. */
function usageOf(planned: readonly OpenclawPool[]) {
  const instances = planned.flatMap((pool) => [
    ...Array.from({ length: pool.counts.running }, () => ({
      poolId: pool.id,
      desiredStatus: 'running' as const,
    })),
    ...Array.from({ length: pool.counts.warm }, () => ({
      poolId: pool.id,
      desiredStatus: 'warm' as const,
    })),
  ]);
  return tenantUsage(planned, instances);
}

export function planOpenclaw(options: OpenclawOptions = {}): OpenclawPlan {
  const planned = pools(options);
  for (const pool of planned) validatePoolSpec(pool);
  const usage = usageOf(planned);
  const needed: Quotas = {
    maxVcpus: usage.vcpus,
    maxMemMib: usage.memMib,
    maxRunning: usage.running,
    maxWarm: usage.warm,
    maxPools: usage.pools,
    maxInstancesPerPool: Math.max(...Object.values(usage.instancesByPool)),
    maxDiskGib: usage.diskGib,
  };
  const quotas = { ...defaultQuotas };
  const raised: Partial<Quotas> = {};
  for (const key of quotaKeys) {
    if (needed[key] > quotas[key]) raised[key] = quotas[key] = needed[key];
  }
  // By construction; kept as a check that this plan and the coordinator agree on usage.
  const violations = quotaViolations(quotas, usage);
  if (violations.length > 0) {
    throw new ValidationError(`the deployment does not fit its own quotas`, violations);
  }
  return { quotas, raised, pools: planned };
}

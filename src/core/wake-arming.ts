/**
 * When the node traps connections for a lowered instance, and what a wake on connect means
 * (pure). The trap's nftables side is core/wake-trap.ts; the agent's side agent/wake.
 */
import type { DesiredStatus } from './model.ts';
import { IDLE_MIN_AWAKE_SECS } from './idle-policy.ts';
import { bridgeName } from './naming.ts';

/** What of an instance's spec the trap needs. */
export interface TrapSpec {
  ip: string;
  servicePorts?: readonly number[] | undefined;
  tenant?: { netId: number; gateway: string } | undefined;
}

/** A lowered instance's trap: its address on its tenant bridge, for its service ports. */
export interface TrapTarget {
  bridge: string;
  ip: string;
  ports: readonly number[];
}

/**
 * How a step that makes the VM stop answering (drain, pause, sleep) may go:
 * - `plain`: the instance serves no ports; nothing waits for it;
 * - `arm`: arm the trap first, and lower it only once armed;
 * - `refuse`: it serves ports but this node cannot trap them: it is not lowered.
 */
export type LowerGate =
  { kind: 'plain' } | { kind: 'arm'; target: TrapTarget } | { kind: 'refuse'; reason: string };

export function trapTargetOf(spec: TrapSpec): TrapTarget | undefined {
  const ports = spec.servicePorts ?? [];
  if (ports.length === 0 || !spec.tenant) return undefined;
  return { bridge: bridgeName(spec.tenant.netId), ip: spec.ip, ports: [...ports] };
}

/**
 * The rule that an instance whose wake path is not armed is never lowered: a paused or
 * sleeping guest answers no connection, so one with service ports goes down only behind its
 * trap (`trapAvailable`: this node runs the wake service).
 */
export function lowerGate(spec: TrapSpec, trapAvailable: boolean): LowerGate {
  if ((spec.servicePorts ?? []).length === 0) return { kind: 'plain' };
  const target = trapTargetOf(spec);
  if (!target) {
    return {
      kind: 'refuse',
      reason: 'it serves ports but has no tenant network to trap its connections on',
    };
  }
  if (!trapAvailable) {
    return { kind: 'refuse', reason: 'this node does not run the wake-on-connect trap' };
  }
  return { kind: 'arm', target };
}

/**
 * Where a connection that woke an instance came from: `node` when it is the tenant bridge's
 * own address (the node itself, a published port forwarded by it), `gateway` when it is one
 * of the tenant's gateway instances, else `tenant` (another instance of its tenant: the trap
 * holds only connections arriving on the instance's own tenant bridge).
 */
export type WakeSource = 'tenant' | 'gateway' | 'node';

export function wakeSource(
  from: string,
  bridgeAddress: string | undefined,
  gatewayIps: ReadonlySet<string>,
): WakeSource {
  const address = from.startsWith('::ffff:') ? from.slice(7) : from;
  if (address === bridgeAddress) return 'node';
  return gatewayIps.has(address) ? 'gateway' : 'tenant';
}

/**
 * How long after a wake on connect the node keeps the woken instance running whatever its
 * document says: the document it holds may still be the one that lowered it, written before
 * the coordinator heard of the wake. The coordinator's own minimum-awake window is as long.
 */
export const WAKE_HOLD_MS = IDLE_MIN_AWAKE_SECS * 1000;

export function desiredAfterWake(
  desired: DesiredStatus,
  wokenAtMs: number | undefined,
  nowMs: number,
): DesiredStatus {
  if (wokenAtMs === undefined || nowMs - wokenAtMs >= WAKE_HOLD_MS) return desired;
  return wakeRaises(desired) ?? desired;
}

/**
 * The desired status a wake on connect raises an instance to, or undefined when it stays
 * (already running, or meant to stop or go away: a wake does not overrule that).
 */
export function wakeRaises(desired: DesiredStatus): 'running' | undefined {
  return desired === 'warm' || desired === 'sleeping' ? 'running' : undefined;
}

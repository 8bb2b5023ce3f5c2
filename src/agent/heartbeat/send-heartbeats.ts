import type { NodeCapacity } from '../../core/model.ts';
import type { HeartbeatRequest, HeartbeatResult } from '../../contract/heartbeat.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { Logger } from '../../ports/logger.ts';
import { abortableSleep } from '../../drivers/process/wait-until.ts';
import type { Clock } from '../../ports/clock.ts';
import type { ActivityTracker } from '../activity/activity-tracker.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import type { GuestSample, WorkloadSample } from '../runtime/instance-runtime.ts';
import { measureHost } from '../join/host-facts.ts';
import { nodeUsage } from './node-usage.ts';
import { MAX_INT32 } from '../../contract/common.ts';
import { toKib, type InstanceSample } from '../../contract/node-report.ts';
import type { InstanceDisk, NodeDisk } from '../disk/disk-report.ts';
import { ReportDeltas } from './report-deltas.ts';
import type { SampleTolerance } from '../../core/sample-tolerance.ts';

export const DEFAULT_HEARTBEAT_MS = 5_000;

export interface HeartbeatOptions {
  api: Pick<ApiClient, 'call'>;
  nodeId: string;
  runtime: { list(): Promise<VmRecord[]> };
  dataDir: string;
  /** Capacity to declare instead of the host's own (an operator's overcommit); default measured. */
  capacity?: NodeCapacity;
  /** vCPUs to declare instead of the host's count, memory and disk measured (`agent.vcpus`). */
  vcpus?: number;
  /** This node's VXLAN source address, reported so the coordinator's peer lists follow it. */
  underlayIp?: string;
  /** Samples idle metrics before each heartbeat; without it no activity is reported. */
  tracker?: ActivityTracker;
  /**
   * Asks each running guest for its workload and its own CPU time; without it no workload is
   * reported and activity is the host's view alone.
   */
  guest?: (record: VmRecord) => Promise<GuestSample | undefined>;
  /** The node traps connections to its lowered instances (agent/wake): the idle policy may lower them. */
  wakeOnConnect?: boolean;
  /** The node relays its gateway guests' worker commands (agent/worker-exec). */
  workerExec?: boolean;
  /** Where this node's published ports listen, when it runs them. */
  publishAddress?: string;
  /** Reads the node's disk for each heartbeat; without it none is reported. */
  disk?: (records: readonly VmRecord[]) => Promise<NodeDisk>;
  everyMs?: number;
  /**
   * How long one heartbeat may take (default the client's): an answer later than the lease
   * renews nothing, and a call hung on a cut link must not hold back the next one.
   */
  callTimeoutMs?: () => number;
  clock: Clock;
  signal: AbortSignal;
  logger?: Logger;
  /** The coordinator had declared this node lost and takes it back with this heartbeat. */
  onRecovered?: () => void;
  /**
   * Which samples each heartbeat carries (report-deltas.ts): default only those changed since
   * the last accepted report, once the coordinator takes deltas; `false` always every sample.
   */
  deltas?: ReportDeltas | false;
  /**
   * How far gauges may drift unsent in the default deltas (the agent's
   * `heartbeat*Tolerance` settings); default DEFAULT_SAMPLE_TOLERANCE.
   */
  tolerance?: SampleTolerance;
  /** `sentAt`: when the answered heartbeat left, the start of the lease it renews. */
  onBeat?: (result: HeartbeatResult, sentAt: Date) => void;
}

/** One heartbeat's body: capacity, usage, the node's disk, and a sample of every local VM. */
export async function heartbeatBody(options: HeartbeatOptions): Promise<HeartbeatRequest> {
  const records = await options.runtime.list();
  // Asked first, so the guest's CPU time and the host's below cover about the same interval.
  const guests = await Promise.all(records.map((r) => options.guest?.(r)));
  await options.tracker?.sample(
    records.map((r, n) => {
      const guestCpu = guests[n]?.cpu;
      return {
        key: r.key,
        pid: r.handle?.pid ?? null,
        tap: r.spec.tap,
        ...(guestCpu ? { guestCpu } : {}),
      };
    }),
    options.clock.now(),
  );
  const measured = await measureHost(options.dataDir);
  const disk = await readDisk(options, records);
  return {
    capacity: options.capacity ?? {
      ...measured.capacity,
      ...(options.vcpus !== undefined ? { vcpus: options.vcpus } : {}),
    },
    usage: {
      ...nodeUsage(records, measured.diskFreeMib, heldRss(options.tracker)),
      ...(options.wakeOnConnect === true ? { wakeOnConnect: true } : {}),
      ...(options.workerExec === true ? { workerExec: true } : {}),
      ...(options.publishAddress !== undefined ? { publishAddress: options.publishAddress } : {}),
    },
    ...(options.underlayIp !== undefined ? { underlayIp: options.underlayIp } : {}),
    instances: records.map((r, n) => ({
      ...sampleOf(r, options.tracker, disk?.instances.get(r.key)),
      ...workloadOf(guests[n]?.workload),
    })),
    ...(disk ? { disk: disk.report } : {}),
  };
}

/** Each VMM's last sampled resident memory, when the agent tracks its VMs. */
function heldRss(
  tracker: ActivityTracker | undefined,
): ((key: string) => number | undefined) | undefined {
  return tracker ? (key) => tracker.usageOf(key).rssKib : undefined;
}

/** A disk that cannot be read leaves it out of this heartbeat; the others still go. */
async function readDisk(
  options: HeartbeatOptions,
  records: readonly VmRecord[],
): Promise<NodeDisk | undefined> {
  try {
    return await options.disk?.(records);
  } catch (error) {
    options.logger?.warn({ err: error }, 'could not read the node disk for the heartbeat');
    return undefined;
  }
}

/** What the contract's asciiRef takes: a sample it refuses would cost the whole heartbeat. */
const printable = (text: string, max: number): boolean =>
  text.length <= max && /^[\x21-\x7e]+$/.test(text);

/** Held to what the contract carries: a guest's state text is its own. */
function workloadOf(w: WorkloadSample | undefined): Pick<InstanceSample, 'workload'> {
  if (!w || !printable(w.state, 32)) return {};
  const runningFor = w.runningForMs === undefined ? {} : { runningForMs: clamp(w.runningForMs) };
  return { workload: { state: w.state, restarts: clamp(w.restarts), ...runningFor } };
}

function sampleOf(
  record: VmRecord,
  tracker: ActivityTracker | undefined,
  disk: InstanceDisk | undefined,
): InstanceSample {
  const lastActiveAt = tracker?.lastActiveAt(record.key);
  const pid = record.handle?.pid;
  const use = tracker?.usageOf(record.key) ?? {};
  return {
    tenant: record.tenantId,
    pool: record.poolId,
    instance: record.instanceId,
    ...(lastActiveAt !== undefined ? { lastActiveAt } : {}),
    status: record.status,
    ...(pid !== undefined ? { pid } : {}),
    tap: record.spec.tap,
    ...(printable(record.spec.revision, 128) ? { revision: record.spec.revision } : {}),
    ...(use.cpuPermille !== undefined ? { cpuPermille: Math.min(use.cpuPermille, 1_000_000) } : {}),
    ...(use.rssKib !== undefined ? { rssKib: Math.min(use.rssKib, MAX_INT32) } : {}),
    ...(disk ? { diskKib: toKib(disk.data) } : {}),
    ...(disk && disk.snapshots > 0 ? { snapshotKib: toKib(disk.snapshots) } : {}),
  };
}

/**
 * Sends a heartbeat at once and then every `everyMs` until `signal` aborts. A failed one is
 * logged (once per outage) and the next tick simply tries again: an unreachable coordinator
 * never stops the agent.
 */
export async function sendHeartbeats(options: HeartbeatOptions): Promise<void> {
  let failing = false;
  const deltas =
    options.deltas === false
      ? undefined
      : (options.deltas ??
        new ReportDeltas(options.tolerance ? { tolerance: options.tolerance } : {}));
  while (!options.signal.aborted) {
    let again = false;
    try {
      const whole = await heartbeatBody(options);
      const body = deltas ? withReport(whole, deltas) : whole;
      const sentAt = options.clock.now();
      const result = await options.api
        .call('nodeHeartbeat', {
          params: { node: options.nodeId },
          body,
          ...(options.callTimeoutMs ? { timeoutMs: options.callTimeoutMs() } : {}),
        })
        .catch((error: unknown) => {
          deltas?.failed(error);
          throw error;
        });
      if (failing) options.logger?.info({ node: options.nodeId }, 'heartbeats get through again');
      failing = false;
      // A delta the coordinator had no base for: a whole report at once, not an interval later.
      again = deltas?.answered(result) === true;
      if (result.recovered) options.onRecovered?.();
      options.onBeat?.(result, sentAt);
    } catch (error) {
      if (!failing) {
        options.logger?.warn(
          { node: options.nodeId, err: error },
          'heartbeat failed; retrying every interval',
        );
      }
      failing = true;
    }
    if (again) continue;
    await abortableSleep(options.clock, options.everyMs ?? DEFAULT_HEARTBEAT_MS, options.signal);
  }
}

/** The body with only the samples (and disk) the coordinator does not hold yet. */
function withReport(whole: HeartbeatRequest, deltas: ReportDeltas): HeartbeatRequest {
  const { instances, disk, ...rest } = whole;
  return { ...rest, ...deltas.next(instances, disk) };
}

const clamp = (n: number): number => Math.max(0, Math.min(n, MAX_INT32));

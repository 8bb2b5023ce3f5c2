import type { Clock } from '../../ports/clock.ts';
import type { ProcessRunner } from '../../ports/process-runner.ts';
import type { Logger } from '../../ports/logger.ts';
import type { LogLevel } from './requests.ts';
import type { JailerConfig } from './vm-layout.ts';

export interface FirecrackerVmmConfig {
  firecrackerBin: string;
  /** Launch through the jailer; unjailed when absent. */
  jailer?: JailerConfig;
  runner: ProcessRunner;
  /**
   * Runs mount and umount for the jails in the agent's own mount namespace; default `runner`
   * (which may wrap commands in `ip netns exec`, a mount namespace of their own).
   */
  hostRunner?: ProcessRunner;
  clock: Clock;
  logger?: Logger;
  /** Track dirty pages so diff snapshots are possible. Default true. */
  diffSnapshots?: boolean;
  /** Guest CID of the vsock device. Default 3, the first non-reserved CID. */
  guestCid?: number;
  logLevel?: LogLevel;
  timeouts?: Partial<FirecrackerTimeouts>;
}

/**
 * Firecracker's own memory beyond guest RAM, for the cgroup limit. Measured with the jailed
 * v1.0 binary on the development host (its guest makes no progress there): after
 * InstanceStart RssAnon was 45.4 MiB, of which 44.2 MiB is the dev kernel loaded into guest
 * RAM, plus 2.0 MiB RssFile; a restored VMM held 1.8 MiB anonymous and 2.2 MiB file pages.
 * So ~2-4 MiB of its own (Firecracker's documented budget is under 5 MiB); with headroom for
 * API buffers, vsock and snapshot I/O: 32 MiB.
 */
export const FIRECRACKER_MEM_OVERHEAD_MIB = 32;

export interface FirecrackerTimeouts {
  /** Configuration and snapshot requests; a large VM's snapshot takes a while. */
  apiRequestMs: number;
  /** Quick questions (state, adopt, Ctrl-Alt-Del): a VMM that does not answer is broken. */
  apiProbeMs: number;
  /** Spawn until the API socket accepts connections. */
  apiSocketMs: number;
  /** After SendCtrlAltDel, how long the guest may take to power off. */
  gracefulStopMs: number;
  termMs: number;
  killMs: number;
}

export const defaultTimeouts: FirecrackerTimeouts = {
  apiRequestMs: 60_000,
  apiProbeMs: 3_000,
  apiSocketMs: 10_000,
  gracefulStopMs: 3_000,
  termMs: 3_000,
  killMs: 3_000,
};

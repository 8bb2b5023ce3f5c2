import type { ActivityProbe } from '../../ports/activity-probe.ts';
import {
  cpuPermille,
  DEFAULT_ACTIVITY_THRESHOLDS,
  wasActive,
  type ActivityThresholds,
  type CounterSample,
} from './activity-decision.ts';

/** What the tracker needs of a local VM record. */
export interface TrackedVm {
  key: string;
  /** The VMM process; null when none runs (sleeping, stopped). */
  pid: number | null;
  tap: string;
  /** The guest's own CPU time since boot as its agent just reported it; absent: no report. */
  guestCpu?: { busy: number; idle: number };
}

/** A VM's use as the host sees it; a field is absent when it could not be measured. */
export interface VmUsage {
  cpuPermille?: number;
  rssKib?: number;
}

function usageBetween(before: CounterSample | undefined, next: CounterSample): VmUsage {
  const cpu = before === undefined ? undefined : cpuPermille(before, next);
  return {
    ...(cpu !== undefined ? { cpuPermille: cpu } : {}),
    ...(next.rssKib !== undefined ? { rssKib: next.rssKib } : {}),
  };
}

/**
 * Remembers each VM's previous counters and when it was last seen active. Only VMs with a
 * VMM process are read; a VM without one keeps its last activity time but starts a fresh
 * baseline when its next process appears. Forgets VMs that are no longer listed.
 */
export class ActivityTracker {
  private readonly previous = new Map<string, CounterSample>();
  private readonly lastActive = new Map<string, string>();
  private readonly usage = new Map<string, VmUsage>();

  constructor(
    private readonly probe: ActivityProbe,
    private readonly thresholds: ActivityThresholds = DEFAULT_ACTIVITY_THRESHOLDS,
  ) {}

  async sample(vms: readonly TrackedVm[], now: Date): Promise<void> {
    const listed = new Set(vms.map((vm) => vm.key));
    for (const map of [this.previous, this.lastActive, this.usage]) {
      for (const key of map.keys()) if (!listed.has(key)) map.delete(key);
    }
    for (const vm of vms) await this.sampleOne(vm, now);
  }

  /** ISO time of the last sample that found the VM active; undefined if none did. */
  lastActiveAt(key: string): string | undefined {
    return this.lastActive.get(key);
  }

  /** What the VM used as of the last sample: CPU over the interval before it, and its RSS. */
  usageOf(key: string): VmUsage {
    return this.usage.get(key) ?? {};
  }

  private async sampleOne(vm: TrackedVm, now: Date): Promise<void> {
    if (vm.pid === null) {
      this.previous.delete(vm.key);
      this.usage.delete(vm.key);
      return;
    }
    // A VMM that just exited has no counters left to read: no baseline this round.
    const counters = await this.probe.read({ ...vm, pid: vm.pid }).catch(() => undefined);
    if (counters === undefined) {
      this.previous.delete(vm.key);
      this.usage.delete(vm.key);
      return;
    }
    const next: CounterSample = {
      ...counters,
      atMs: now.getTime(),
      pid: vm.pid,
      ...(vm.guestCpu ? { guestCpu: vm.guestCpu } : {}),
    };
    const before = this.previous.get(vm.key);
    if (before && wasActive(before, next, this.thresholds)) {
      this.lastActive.set(vm.key, now.toISOString());
    }
    this.usage.set(vm.key, usageBetween(before, next));
    this.previous.set(vm.key, next);
  }
}

import type { ActivityProbe } from '../../ports/activity-probe.ts';
import {
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
}

/**
 * Remembers each VM's previous counters and when it was last seen active. Only VMs with a
 * VMM process are read; a VM without one keeps its last activity time but starts a fresh
 * baseline when its next process appears. Forgets VMs that are no longer listed.
 */
export class ActivityTracker {
  private readonly previous = new Map<string, CounterSample>();
  private readonly lastActive = new Map<string, string>();

  constructor(
    private readonly probe: ActivityProbe,
    private readonly thresholds: ActivityThresholds = DEFAULT_ACTIVITY_THRESHOLDS,
  ) {}

  async sample(vms: readonly TrackedVm[], now: Date): Promise<void> {
    const listed = new Set(vms.map((vm) => vm.key));
    for (const map of [this.previous, this.lastActive]) {
      for (const key of map.keys()) if (!listed.has(key)) map.delete(key);
    }
    for (const vm of vms) await this.sampleOne(vm, now);
  }

  /** ISO time of the last sample that found the VM active; undefined if none did. */
  lastActiveAt(key: string): string | undefined {
    return this.lastActive.get(key);
  }

  private async sampleOne(vm: TrackedVm, now: Date): Promise<void> {
    if (vm.pid === null) {
      this.previous.delete(vm.key);
      return;
    }
    // A VMM that just exited has no counters left to read: no baseline this round.
    const counters = await this.probe.read({ ...vm, pid: vm.pid }).catch(() => undefined);
    if (counters === undefined) {
      this.previous.delete(vm.key);
      return;
    }
    const next: CounterSample = { ...counters, atMs: now.getTime(), pid: vm.pid };
    const before = this.previous.get(vm.key);
    if (before && wasActive(before, next, this.thresholds)) {
      this.lastActive.set(vm.key, now.toISOString());
    }
    this.previous.set(vm.key, next);
  }
}

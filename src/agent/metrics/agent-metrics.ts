import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CounterAccumulator } from '../../core/metrics/counter-accumulator.ts';
import { instanceStatuses } from '../../core/model.ts';
import type { VmCounterProbe, VmCounterReading } from '../../drivers/metrics/vm-counters.ts';
import type { VmRecord } from '../state/vm-repo.ts';

/** Lifecycle steps last from milliseconds (a pause) to minutes (a cold boot under TCG). */
const STEP_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const INSTANCE_LABELS = ['tenant', 'pool', 'instance'] as const;

/** What the runtime tells the metrics about each lifecycle step it ran. */
export interface LifecycleObserver {
  step(step: string, seconds: number, outcome: 'ok' | 'error', trigger: string): void;
}

type Totals = Record<
  'cpu' | 'rx' | 'tx' | 'blockRead' | 'blockWrite',
  { counter: Counter; pick: (r: VmCounterReading) => number | undefined; scale?: number }
>;

/**
 * The agent's metrics (docs/metrics.md): lifecycle step durations per hypervisor, wakes by
 * trigger, and per instance its CPU, memory, network and block counters. Instance counters are
 * read at each scrape and kept monotonic across VMM restarts (a wake starts a new process); an
 * instance's series live as long as its record, so a destroyed one's go away.
 */
export class AgentMetrics implements LifecycleObserver {
  readonly registry = new Registry();
  private readonly steps: Histogram;
  private readonly wakes: Counter;
  private readonly admissions: Counter;
  private readonly vms: Gauge;
  private readonly memory: Gauge;
  private readonly totals: Totals;
  private readonly counters = new CounterAccumulator();

  constructor(
    private readonly hypervisor: string,
    private readonly source: { list(): Promise<VmRecord[]>; probe: VmCounterProbe },
  ) {
    const registers = [this.registry];
    this.steps = new Histogram({
      name: 'mvm_vm_lifecycle_duration_seconds',
      help: 'Lifecycle steps (prepare, boot, pause, resume, drain, sleep, wake, stop, destroy) by hypervisor and outcome',
      labelNames: ['step', 'hypervisor', 'outcome'],
      buckets: STEP_BUCKETS,
      registers,
    });
    this.wakes = new Counter({
      name: 'mvm_vm_wakes_total',
      help: 'Instances brought back to running: from warm (resume) or sleeping (wake), by trigger',
      labelNames: ['hypervisor', 'from', 'trigger'],
      registers,
    });
    this.admissions = new Counter({
      name: 'mvm_wake_admissions_total',
      help: 'Wakes on connect by trigger (trap, publish) and how they were decided: coordinator (admitted by it), refused (by it), local (admitted by this node while the coordinator did not answer), unanswered (refused: no answer and no local room or fallback off)',
      labelNames: ['trigger', 'admission'],
      registers,
    });
    this.vms = new Gauge({
      name: 'mvm_vms',
      help: "This node's VMs by status, as its agent records them",
      labelNames: ['status'],
      registers,
    });
    this.memory = new Gauge({
      name: 'mvm_instance_memory_bytes',
      help: "Resident memory of the instance's VMM (guest RAM it touched plus its own)",
      labelNames: INSTANCE_LABELS,
      registers,
    });
    const total = (name: string, help: string) =>
      new Counter({ name, help, labelNames: INSTANCE_LABELS, registers });
    this.totals = {
      cpu: {
        counter: total('mvm_instance_cpu_seconds_total', "CPU time of the instance's VMM"),
        pick: (r) => r.cpuUsec,
        scale: 1e-6,
      },
      // The tap's receive side is what the guest sent.
      rx: {
        counter: total(
          'mvm_instance_network_transmit_bytes_total',
          'Bytes the guest sent on its tap',
        ),
        pick: (r) => r.netRxBytes,
      },
      tx: {
        counter: total(
          'mvm_instance_network_receive_bytes_total',
          'Bytes the guest received on its tap',
        ),
        pick: (r) => r.netTxBytes,
      },
      blockRead: {
        counter: total(
          'mvm_instance_block_read_bytes_total',
          "Bytes the instance's VMM read from storage (drives, snapshots)",
        ),
        pick: (r) => r.blockReadBytes,
      },
      blockWrite: {
        counter: total(
          'mvm_instance_block_write_bytes_total',
          "Bytes the instance's VMM wrote to storage (drives, snapshots)",
        ),
        pick: (r) => r.blockWriteBytes,
      },
    };
    collectDefaultMetrics({ register: this.registry, prefix: 'mvm_agent_' });
  }

  step(step: string, seconds: number, outcome: 'ok' | 'error', trigger: string): void {
    this.steps.observe({ step, hypervisor: this.hypervisor, outcome }, seconds);
    if (outcome === 'ok' && (step === 'wake' || step === 'resume')) {
      const from = step === 'wake' ? 'sleeping' : 'warm';
      this.wakes.inc({ hypervisor: this.hypervisor, from, trigger });
    }
  }

  /** One wake on connect decided (agent/wake/wake-admitter.ts). */
  admission(trigger: string, admission: string): void {
    this.admissions.inc({ trigger, admission });
  }

  /** The text a scrape answers, after reading every instance's counters afresh. */
  async render(): Promise<{ contentType: string; text: string }> {
    await this.refresh();
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }

  private async refresh(): Promise<void> {
    const records = await this.source.list();
    this.vms.reset();
    for (const status of instanceStatuses) {
      this.vms.set({ status }, records.filter((r) => r.status === status).length);
    }
    this.memory.reset();
    for (const { counter } of Object.values(this.totals)) counter.reset();
    const live = new Set(records.map((r) => r.key));
    this.counters.retain((key) => live.has(key.slice(0, key.lastIndexOf('#'))));
    for (const record of records) await this.refreshOne(record);
  }

  private async refreshOne(record: VmRecord): Promise<void> {
    const labels = {
      tenant: record.tenantId,
      pool: record.poolId,
      instance: record.instanceId,
    };
    const pid = record.handle?.pid;
    const reading =
      pid === undefined || record.status === 'sleeping' || record.status === 'stopped'
        ? {}
        : await this.source.probe.read({ key: record.key, pid, tap: record.spec.tap });
    if (reading.rssBytes !== undefined) this.memory.set(labels, reading.rssBytes);
    for (const [name, total] of Object.entries(this.totals)) {
      const key = `${record.key}#${name}`;
      const raw = total.pick(reading);
      const source = sourceOf(name, reading, record, pid);
      const value =
        raw === undefined ? this.counters.value(key) : this.counters.add(key, raw, source);
      if (value !== undefined) total.counter.inc(labels, value * (total.scale ?? 1));
    }
  }
}

/**
 * What a reading restarts with: block I/O with each VMM process, CPU with its cgroup (or the
 * process without one), tap bytes with the tap (a lower reading than the last still counts as
 * a restart, so a tap made anew is caught too).
 */
function sourceOf(
  name: string,
  reading: VmCounterReading,
  record: VmRecord,
  pid: number | undefined,
): string {
  if (name === 'cpu') return reading.cpuSource ?? String(pid);
  if (name === 'rx' || name === 'tx') return record.spec.tap;
  return String(pid);
}

import { errorMessage } from '../../core/errors.ts';
import { lowerGate, trapTargetOf, wakeSource, type WakeSource } from '../../core/wake-arming.ts';
import type { TrapEntry } from '../../core/wake-trap.ts';
import type { WakeTrapDriver } from '../../drivers/linux-net/wake-trap-driver.ts';
import type { Clock } from '../../ports/clock.ts';
import type { Logger } from '../../ports/logger.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import { HoldingListeners, type HoldingOptions, type WakeTrigger } from './holding-listener.ts';
import { WakeNotArmedError } from './wake-not-armed.ts';
import type { WakeAdmission } from '../../core/wake-admission.ts';

/** What the runtime asks of the node's wake trap around the steps that lower or raise a VM. */
export interface WakeArming {
  /** Arms the trap of an instance about to stop answering; throws when it cannot be armed. */
  arm(record: VmRecord): Promise<void>;
  /** Lets a raised or destroyed instance's traffic through again. */
  disarm(record: VmRecord): Promise<void>;
  /** When this node last woke the instance on a connection (epoch ms), if it did. */
  wokenAt(key: string): number | undefined;
  /**
   * The instances (`tenant/pool/instance`) whose move away from this node is under way: a
   * connection does not wake them here (agent/move/move-worker.ts keeps it current).
   */
  leaving?(labels: ReadonlySet<string>): void;
}

/** Why a connection to an instance leaving this node is reset instead of waking it. */
export const LEAVING_REASON =
  'its move to another node is under way: it is not woken here, connect again once it runs there';

const labelOf = (r: Pick<VmRecord, 'tenantId' | 'poolId' | 'instanceId'>) =>
  `${r.tenantId}/${r.poolId}/${r.instanceId}`;

/** A wake on connect as the coordinator hears of it: an audit event naming its trigger. */
export interface ConnectWake extends WakeTrigger {
  source: WakeSource;
}

export interface WakeServiceOptions {
  driver: WakeTrapDriver;
  /** Wakes the instance through the runtime (which disarms its trap on the way up). */
  wake(record: VmRecord): Promise<VmRecord>;
  /** The node's records, to name where a connection came from (a gateway instance?). */
  records(): Promise<VmRecord[]>;
  /** Tells the coordinator; a failure is logged, the held connections are served anyway. */
  report?: (record: VmRecord, wake: ConnectWake) => Promise<void>;
  /**
   * Asks the coordinator before waking (agent/wake/wake-admission.ts): it raises the instance
   * only with room on this node. Not admitted: nothing is woken, the held connections are
   * reset with the reason. Replaces `report` (the question is the report).
   */
  admit?: (record: VmRecord, wake: ConnectWake) => Promise<WakeAdmission>;
  /** How long a connection is held at most (the wake plus the service answering). */
  holdMs: number;
  /** An agent with `agent.netns`: the holding listeners and their dials live there. */
  within?: Pick<HoldingOptions, 'listen' | 'dial'>;
  clock: Clock;
  logger: Logger;
}

/**
 * The node's wake on connect: arms the trap (core/wake-trap.ts through WakeTrapDriver) and a
 * holding listener per service port before an instance with service ports stops answering,
 * wakes it once through the runtime when a held SYN arrives, splices the held connections to
 * it, and tells the coordinator. The table's rules are never deleted: arming and disarming
 * change set and map elements only, and a restarted agent re-arms from its records.
 */
export class WakeService implements WakeArming {
  private readonly listeners: HoldingListeners;
  private readonly armed = new Map<string, { record: VmRecord; entries: TrapEntry[] }>();
  private readonly woken = new Map<string, number>();
  private leavingNow: ReadonlySet<string> = new Set();
  private ready: Promise<void> | undefined;
  private unadmitted = 0;

  constructor(private readonly options: WakeServiceOptions) {
    this.listeners = new HoldingListeners({
      holdMs: options.holdMs,
      logger: options.logger,
      wake: (key, trigger) => this.wakeHeld(key, trigger),
      refuse: (key) => this.refusal(key),
      ...options.within,
    });
  }

  leaving(labels: ReadonlySet<string>): void {
    this.leavingNow = new Set(labels);
  }

  /** Whether the instance's move away from this node is under way. */
  isLeaving(record: Pick<VmRecord, 'tenantId' | 'poolId' | 'instanceId'>): boolean {
    return this.leavingNow.has(labelOf(record));
  }

  /** Why a connection must not wake the instance here: its move away is under way. */
  refusal(key: string): string | undefined {
    const record = this.armed.get(key)?.record;
    return record && this.isLeaving(record) ? LEAVING_REASON : undefined;
  }

  /** Connections reset at once because the instance is leaving this node. */
  get refusedCount(): number {
    return this.listeners.refusedCount;
  }

  /** Wakes the coordinator did not admit (no room on this node, or no answer). */
  get unadmittedCount(): number {
    return this.unadmitted;
  }

  /** How many wakes the held connections started (one however many arrived at once). */
  get wakeCount(): number {
    return this.listeners.wakeCount;
  }

  async arm(record: VmRecord): Promise<void> {
    const gate = lowerGate(record.spec, true);
    if (gate.kind === 'plain') return;
    if (gate.kind === 'refuse') throw new WakeNotArmedError(record.key, gate.reason);
    const { bridge, ip, ports } = gate.target;
    try {
      await this.ensure();
      const entries: TrapEntry[] = [];
      for (const port of ports) {
        const listenPort = await this.listeners.arm({ key: record.key, ip, port });
        entries.push({ bridge, ip, port, listenPort });
      }
      const known = this.armed.get(record.key);
      if (known && sameEntries(known.entries, entries)) return;
      await this.options.driver.forget(bridge, ip, ports);
      await this.options.driver.arm(bridge, ip, entries);
      this.armed.set(record.key, { record, entries });
      this.options.logger.info({ key: record.key, ip, ports }, 'wake trap armed');
    } catch (error) {
      this.listeners.disarm(record.key);
      throw new WakeNotArmedError(record.key, `arming failed: ${errorMessage(error)}`);
    }
  }

  async disarm(record: VmRecord): Promise<void> {
    const target = trapTargetOf(record.spec);
    const known = this.armed.get(record.key);
    this.armed.delete(record.key);
    if (!target && !known) return;
    const { bridge, ip, ports } = target ?? targetOfEntries(known?.entries ?? []);
    // What this process armed goes in one script (the wake's critical path); anything else,
    // or a script that failed half way, element by element.
    const lifted = known
      ? await this.options.driver.disarm(bridge, ip, known.entries).then(
          () => true,
          () => false,
        )
      : false;
    if (!lifted) await this.options.driver.forget(bridge, ip, ports);
    this.listeners.disarm(record.key);
  }

  /** Whether the instance's trap is armed by this process. */
  isArmed(key: string): boolean {
    return this.armed.has(key);
  }

  wokenAt(key: string): number | undefined {
    return this.woken.get(key);
  }

  /** After a restart: the lowered instances with service ports are trapped again. */
  async recover(records: readonly VmRecord[]): Promise<string[]> {
    const rearmed: string[] = [];
    for (const record of records) {
      if (record.status !== 'warm' && record.status !== 'sleeping') continue;
      if (!trapTargetOf(record.spec)) continue;
      try {
        await this.arm(record);
        rearmed.push(record.key);
      } catch (error) {
        this.options.logger.error(
          { key: record.key, err: error },
          'wake trap not re-armed: connections to this lowered instance will not wake it',
        );
      }
    }
    return rearmed;
  }

  close(): void {
    this.listeners.close();
  }

  private ensure(): Promise<void> {
    this.ready ??= this.options.driver.ensure().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async wakeHeld(key: string, trigger: WakeTrigger): Promise<void> {
    const record = this.armed.get(key)?.record;
    if (!record) throw new Error(`instance '${key}' is not armed here any more`);
    // Its move began while connections were held: they are not served by a wake here.
    if (this.isLeaving(record)) throw new Error(LEAVING_REASON);
    const source = wakeSource(
      trigger.from,
      record.spec.tenant?.gateway,
      await this.gatewayIps(record),
    );
    if (this.options.admit) {
      const admission = await this.options.admit(record, { ...trigger, source });
      if (!admission.admitted) {
        this.unadmitted += 1;
        this.options.logger.warn(
          { key, ...trigger, reason: admission.reason },
          'wake not admitted',
        );
        throw new Error(admission.reason);
      }
    }
    const started = this.options.clock.now().getTime();
    this.woken.set(key, started);
    const woken = await this.options.wake(record);
    this.options.logger.info(
      { key, ...trigger, source, ms: this.options.clock.now().getTime() - started },
      'instance woken by a connection',
    );
    if (this.options.admit) return;
    void this.options.report?.(woken, { ...trigger, source }).catch((error: unknown) => {
      this.options.logger.warn({ key, err: error }, 'wake on connect not reported');
    });
  }

  private async gatewayIps(record: VmRecord): Promise<Set<string>> {
    const all = await this.options.records().catch(() => [] as VmRecord[]);
    return new Set(
      all
        .filter((r) => r.tenantId === record.tenantId && r.spec.role === 'gateway')
        .map((r) => r.spec.ip),
    );
  }
}

function sameEntries(a: readonly TrapEntry[], b: readonly TrapEntry[]): boolean {
  return (
    a.length === b.length &&
    a.every((e, i) => e.port === b[i]?.port && e.listenPort === b[i]?.listenPort)
  );
}

function targetOfEntries(entries: readonly TrapEntry[]): {
  bridge: string;
  ip: string;
  ports: number[];
} {
  return {
    bridge: entries[0]?.bridge ?? '',
    ip: entries[0]?.ip ?? '',
    ports: entries.map((e) => e.port),
  };
}

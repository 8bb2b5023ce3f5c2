import {
  HOLDING_STATUSES,
  localAdmission,
  unansweredAdmission,
  type LocalHolder,
  type LocalSize,
  type WakeAdmission,
} from '../../core/wake-admission.ts';
import { errorMessage } from '../../core/errors.ts';
import { MAX_WAKE_AGE_MS } from '../../contract/requests.ts';
import type { ApiClient } from '../../drivers/coordinator-api/api-client.ts';
import type { Logger } from '../../ports/logger.ts';
import type { VmRecord } from '../state/vm-repo.ts';
import { bootTime, type BootTime } from './boot-time.ts';
import { ADMIT_TIMEOUT_MS, reportWake, type WakeAsk, type WakeRef } from './wake-admission.ts';

/** Which listener a wake came through: the wake trap or a published port. */
export type WakeTriggerKind = 'trap' | 'publish';

/** How a wake was decided, as counted (`mvm_wake_admissions_total{admission}`). */
export type AdmissionOutcome = 'coordinator' | 'refused' | 'local' | 'unanswered';

/** How often wakes admitted locally are reported again while the coordinator does not answer. */
export const REPORT_RETRY_MS = 2_000;

export interface WakeAdmitterOptions {
  coordinator: { api: ApiClient; nodeId: string };
  /** Admit locally when the coordinator does not answer (`--wake-without-coordinator`). */
  fallback: boolean;
  /** This node's capacity as configured (what its heartbeats declare). */
  capacity: () => Promise<LocalSize>;
  /** The node's VMs, as its runtime records them. */
  records: () => Promise<VmRecord[]>;
  logger: Logger;
  /** Counts each decision. */
  count?: (trigger: WakeTriggerKind, admission: AdmissionOutcome) => void;
  timeoutMs?: number;
  retryMs?: number;
  /** Where unreported wakes outlive the agent (unreported-wakes-file.ts); none: memory only. */
  journal?: WakeJournal;
  /** The node's clock, in ms (default Date.now): each wake's admission time and age. */
  now?: () => number;
  /** The host's monotonic clock and boot (default boot-time.ts): ages across a restart. */
  bootTime?: () => BootTime | undefined;
}

/** A wake admitted locally, not yet reported to the coordinator. */
export interface UnreportedWake {
  ref: WakeRef;
  ask: WakeAsk;
  holder: LocalHolder;
  /**
   * When the node admitted it (ISO, its own clock); its report says how long ago, so the
   * coordinator can tell a lowering since from one before. Absent in files of older agents.
   */
  admittedAt?: string;
  /**
   * The same moment on the host's monotonic clock (boot-time.ts): a report made on the same
   * boot measures the age by it, so a wall clock stepped across the agent's restart does not
   * shift it. Absent in files of older agents and where the kernel names no boot.
   */
  admittedOnBoot?: BootTime;
}

/** Keeps the unreported wakes across restarts: the whole set, written after each change. */
export interface WakeJournal {
  load(): Promise<UnreportedWake[]>;
  save(wakes: readonly UnreportedWake[]): Promise<void>;
}

const sizeOf = (r: VmRecord): LocalHolder => ({
  key: r.key,
  vcpus: r.spec.vcpus,
  memMib: r.spec.memMib,
});

/**
 * Decides a wake on connect: the coordinator's answer when it gives one (agent/wake/
 * wake-admission.ts); when it does not answer (unreachable, 5xx, timeout), with `fallback`,
 * the node's own count of its room (core/wake-admission.ts `localAdmission`), one decision at
 * a time so two wakes never count the same room. A wake admitted so is kept and reported
 * (`admittedBy: node`) until the coordinator answers, every `retryMs`; with a `journal`, kept
 * there from before the wake until answered, so a restarted agent reports it (`restore`).
 */
export class WakeAdmitter {
  private readonly pending = new Map<string, UnreportedWake>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private saved: Promise<void> = Promise.resolve();

  constructor(private readonly options: WakeAdmitterOptions) {}

  /** Whether the VM `key` was woken by a local admission not yet reported. */
  unreported(key: string): boolean {
    return this.pending.has(key);
  }

  /** Wakes admitted locally, not yet reported to the coordinator. */
  get unreportedCount(): number {
    return this.pending.size;
  }

  async admit(record: VmRecord, ask: WakeAsk, trigger: WakeTriggerKind): Promise<WakeAdmission> {
    const ref = { tenantId: record.tenantId, poolId: record.poolId, instanceId: record.instanceId };
    const { coordinator, logger } = this.options;
    const answer = await reportWake(
      coordinator,
      ref,
      ask,
      this.options.timeoutMs ?? ADMIT_TIMEOUT_MS,
    );
    if (answer.answered) {
      this.options.count?.(trigger, answer.admission.admitted ? 'coordinator' : 'refused');
      return answer.admission;
    }
    if (!this.options.fallback) {
      this.options.count?.(trigger, 'unanswered');
      return unansweredAdmission(answer.message);
    }
    const [capacity, records] = await Promise.all([
      this.options.capacity(),
      this.options.records(),
    ]);
    // No await from here to the entry: a concurrent wake counts this one.
    const holding = records.filter((r) => HOLDING_STATUSES.has(r.status)).map(sizeOf);
    const holder = sizeOf(record);
    const admission = localAdmission(
      { capacity, holding, unreported: [...this.pending.values()].map((u) => u.holder) },
      holder,
    );
    const fields = { key: record.key, port: ask.port, from: ask.from, coordinator: answer.message };
    if (!admission.admitted) {
      this.options.count?.(trigger, 'unanswered');
      logger.warn({ ...fields, reason: admission.reason }, 'wake not admitted: no local room');
      return admission;
    }
    const admittedAt = new Date(this.now()).toISOString();
    const onBoot = this.bootNow();
    this.pending.set(record.key, {
      ref,
      ask,
      holder,
      admittedAt,
      ...(onBoot ? { admittedOnBoot: onBoot } : {}),
    });
    this.options.count?.(trigger, 'local');
    logger.warn(fields, 'wake admitted locally: the coordinator did not answer');
    // On disk before the wake: an agent killed after it still reports it.
    await this.persist();
    this.schedule();
    return admission;
  }

  /**
   * Takes back the wakes an earlier run of the agent admitted and did not report (its
   * journal), and reports them every `retryMs` until answered; answers how many.
   */
  async restore(): Promise<number> {
    const kept = (await this.options.journal?.load()) ?? [];
    for (const wake of kept) {
      if (!this.pending.has(wake.holder.key)) this.pending.set(wake.holder.key, wake);
    }
    if (kept.length > 0) {
      this.options.logger.warn(
        { wakes: kept.map((w) => w.holder.key) },
        'wakes admitted locally before a restart are reported again',
      );
      this.schedule();
    }
    return kept.length;
  }

  /**
   * Reports the wakes admitted locally now (after a round already under way, which may have
   * started before the coordinator answered again); answers how many are still unreported.
   */
  async flush(): Promise<number> {
    await this.flushing;
    this.flushing ??= this.reportAll().finally(() => (this.flushing = undefined));
    await this.flushing;
    return this.pending.size;
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  private bootNow(): BootTime | undefined {
    return (this.options.bootTime ?? bootTime)();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.flush().then((left) => {
        if (left === 0) this.close();
      });
    }, this.options.retryMs ?? REPORT_RETRY_MS);
    this.timer.unref();
  }

  /** Writes the unreported wakes as they stand, one write after another. */
  private persist(): Promise<void> {
    const journal = this.options.journal;
    if (!journal) return Promise.resolve();
    this.saved = this.saved.then(() =>
      journal.save([...this.pending.values()]).catch((error: unknown) => {
        this.options.logger.error(
          { error: errorMessage(error), unreported: this.pending.size },
          'unreported local wakes not saved: a restart before their report forgets them',
        );
      }),
    );
    return this.saved;
  }

  /**
   * How long ago the node admitted `wake` (none for an older agent's file): by the host's
   * monotonic clock when the wake was admitted on this boot (a wall clock stepped since does
   * not shift it), else by the wall clock (after a reboot: a step across it shifts the age by
   * the step). Never below 0 (a wall clock stepped back past the admission: taken as just
   * admitted, so a lowering since is undone, as for an older agent's report); an age past the
   * report's bound is sent at the bound (still older than any lowering since).
   */
  private ageOf(wake: UnreportedWake): { admittedMsAgo?: number } {
    const now = this.bootNow();
    const then = wake.admittedOnBoot;
    const at = wake.admittedAt === undefined ? NaN : Date.parse(wake.admittedAt);
    const age =
      now !== undefined && then !== undefined && now.boot === then.boot
        ? now.ms - then.ms
        : this.now() - at;
    if (Number.isNaN(age)) return {};
    return { admittedMsAgo: Math.min(Math.max(0, Math.round(age)), MAX_WAKE_AGE_MS) };
  }

  private async reportAll(): Promise<void> {
    for (const [key, wake] of [...this.pending]) {
      const answer = await reportWake(
        this.options.coordinator,
        wake.ref,
        { ...wake.ask, admittedBy: 'node', ...this.ageOf(wake) },
        this.options.timeoutMs ?? ADMIT_TIMEOUT_MS,
      );
      if (!answer.answered) return;
      this.pending.delete(key);
      await this.persist();
      this.options.logger.info(
        { key, admitted: answer.admission.admitted },
        'wake admitted locally reported to the coordinator',
      );
    }
  }
}

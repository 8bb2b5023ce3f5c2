import { randomUUID } from 'node:crypto';
import { isMvmError } from '../../core/errors.ts';
import {
  DEFAULT_FULL_REPORT,
  diffSamples,
  fullReportDue,
  samplesByKey,
  type FullReportPolicy,
  type ReportState,
} from '../../core/report-delta.ts';
import {
  DEFAULT_SAMPLE_TOLERANCE,
  sampleMoved,
  type SampleTolerance,
} from '../../core/sample-tolerance.ts';
import type { HeartbeatResult, ReportSeq } from '../../contract/heartbeat.ts';
import type { DiskReport, InstanceSample } from '../../contract/node-report.ts';

/** What of a heartbeat's body is the report: its samples, its disk, and which report it is. */
export interface ReportPart {
  instances: InstanceSample[];
  disk?: DiskReport;
  report?: ReportSeq;
}

interface Sent {
  seq: number;
  full: boolean;
  /** The samples the coordinator holds once it takes this report, by key. */
  samples: Map<string, InstanceSample>;
  disk: string | undefined;
}

export interface ReportDeltasOptions {
  /** Names this run of the agent (default a random UUID). */
  epoch?: string;
  policy?: Partial<FullReportPolicy>;
  /** ms, for the policy's age of the last whole report (default Date.now). */
  now?: () => number;
  /**
   * When a delta resends a sample whose gauges drifted (core/sample-tolerance.ts); default
   * DEFAULT_SAMPLE_TOLERANCE, EXACT_SAMPLES for any change.
   */
  tolerance?: SampleTolerance;
}

/**
 * The agent's side of delta heartbeats (docs/scale.md, "Delta heartbeats"). Whole reports
 * until a coordinator's answer says it takes deltas; then a whole, sequenced report, and after
 * it only the samples that changed since the last report the coordinator accepted (and the
 * instances gone; a sample whose gauges only drifted within tolerance is not resent), with a
 * whole report every `everyBeats` beats or `everyMs`, and whenever an
 * answer asks for one. A beat that failed is never a base: the next delta names the last
 * answered one, so a beat the coordinator took but did not answer makes it ask for a whole
 * report rather than merge on the wrong base.
 */
export class ReportDeltas {
  readonly epoch: string;
  private readonly policy: FullReportPolicy;
  private readonly now: () => number;
  private readonly moved: (held: InstanceSample, now: InstanceSample) => boolean;
  /** The coordinator's last answer said it takes deltas. */
  private deltas = false;
  private seq = 0;
  private accepted: Sent | undefined;
  private pending: Sent | undefined;
  private readonly state: ReportState = {
    wanted: true,
    deltasSinceFull: 0,
    fullAcceptedAt: undefined,
  };

  constructor(options: ReportDeltasOptions = {}) {
    this.epoch = options.epoch ?? randomUUID();
    this.policy = { ...DEFAULT_FULL_REPORT, ...options.policy };
    this.now = options.now ?? Date.now;
    const tolerance = options.tolerance ?? DEFAULT_SAMPLE_TOLERANCE;
    this.moved = (held, now) => sampleMoved(held, now, tolerance);
  }

  /** The report part of the next heartbeat, from every current sample and the disk. */
  next(samples: InstanceSample[], disk: DiskReport | undefined): ReportPart {
    this.pending = undefined;
    const whole = { instances: samples, ...(disk ? { disk } : {}) };
    if (!this.deltas) return whole;
    this.seq += 1;
    const diskJson = disk ? JSON.stringify(disk) : undefined;
    const base = this.accepted;
    if (!base || fullReportDue(this.state, this.now(), this.policy)) {
      this.pending = { seq: this.seq, full: true, samples: samplesByKey(samples), disk: diskJson };
      return { ...whole, report: { epoch: this.epoch, seq: this.seq } };
    }
    const { changed, removed, held } = diffSamples(base.samples, samples, this.moved);
    // An unreadable disk leaves the coordinator's last one until the next whole report.
    const kept = diskJson ?? base.disk;
    this.pending = { seq: this.seq, full: false, samples: held, disk: kept };
    return {
      instances: changed,
      ...(disk && diskJson !== base.disk ? { disk } : {}),
      report: {
        epoch: this.epoch,
        seq: this.seq,
        base: base.seq,
        ...(removed.length > 0 ? { removed } : {}),
      },
    };
  }

  /**
   * The heartbeat was answered. True when the answer asks for a whole report now (the delta
   * had no base there); a coordinator that only now says it takes deltas gets a sequenced
   * whole report with the next beat.
   */
  answered(result: Pick<HeartbeatResult, 'deltas' | 'fullReport'>): boolean {
    const sent = this.pending;
    this.pending = undefined;
    const deltas = result.deltas === true;
    const started = deltas && !this.deltas;
    this.deltas = deltas;
    if (!deltas) this.accepted = undefined;
    if (started || result.fullReport === true || !sent) {
      this.state.wanted = true;
      return deltas && result.fullReport === true;
    }
    this.accepted = sent;
    if (sent.full) {
      this.state.wanted = false;
      this.state.deltasSinceFull = 0;
      this.state.fullAcceptedAt = this.now();
    } else {
      this.state.deltasSinceFull += 1;
    }
    return false;
  }

  /**
   * The heartbeat failed. A coordinator that refused the request as invalid may not know
   * deltas (an older replica): whole, unsequenced reports until an answer says it does.
   */
  failed(error: unknown): void {
    this.pending = undefined;
    if (isMvmError(error) && error.code === 'invalid_argument') {
      this.deltas = false;
      this.accepted = undefined;
      this.state.wanted = true;
    }
  }
}

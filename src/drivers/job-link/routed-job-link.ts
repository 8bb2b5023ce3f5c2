import type { EffectOp } from '../../core/jobs/effect-journal.ts';
import type { GuestJobCall } from '../../contract/guest-job-call.ts';
import type { HeldJob, JobEnd, JobLink, JournalEntry } from '../../ports/job-link.ts';

/** Which job (and effect) a call is about; a claim names neither. */
export interface CallTarget {
  job?: string;
  seq?: number;
}

/**
 * Sends one job route call and answers its response; a lost lease rejects with
 * LeaseLostError. Over HTTP (http-job-link) or over a guest's stdio to its host agent
 * (stdio-job-link).
 */
export type JobCallSend = (
  call: GuestJobCall,
  target: CallTarget,
  body: object,
) => Promise<unknown>;

interface Leased {
  id: string;
  leaseToken: string;
  input: string;
  moduleSha256: string;
  timeoutSecs: number;
  startedAt: string | null;
  attempts: number;
}

export interface WorkerSettings {
  tenant: string;
  pool: string;
  worker: string;
  leaseMs: number;
}

const held = (j: Leased): HeldJob => ({
  id: j.id,
  token: j.leaseToken,
  input: j.input,
  moduleSha256: j.moduleSha256,
  timeoutSecs: j.timeoutSecs,
  startedAt: j.startedAt,
  attempts: j.attempts,
});

/** The JobLink over any way of sending the node-scoped job routes. */
export class RoutedJobLink implements JobLink {
  constructor(
    private readonly send: JobCallSend,
    private readonly worker: WorkerSettings,
  ) {}

  async claim(limit: number, waitMs: number): Promise<HeldJob[]> {
    return (await this.completeAndClaim([], limit, waitMs)).jobs;
  }

  async completeAndClaim(
    done: ReadonlyArray<{ job: HeldJob; result: string }>,
    limit: number,
    waitMs: number,
  ): Promise<{ jobs: HeldJob[]; lost: string[] }> {
    const { tenant, pool, worker, leaseMs } = this.worker;
    const completed = done.map((d) => ({ job: d.job.id, token: d.job.token, result: d.result }));
    const body = {
      tenant,
      pool,
      worker,
      limit,
      leaseMs,
      waitMs,
      ...(completed.length > 0 ? { completed } : {}),
    };
    const answer = (await this.send('claimJobs', {}, body)) as { jobs: Leased[]; lost?: string[] };
    return { jobs: answer.jobs.map(held), lost: answer.lost ?? [] };
  }

  async heartbeat(job: HeldJob): Promise<void> {
    await this.send(
      'heartbeatJob',
      { job: job.id },
      { token: job.token, leaseMs: this.worker.leaseMs },
    );
  }

  async complete(job: HeldJob, end: JobEnd): Promise<void> {
    await this.send('completeJob', { job: job.id }, { ...end, token: job.token });
  }

  async module(job: HeldJob): Promise<Uint8Array> {
    const answer = (await this.send('jobModule', { job: job.id }, { token: job.token })) as {
      wasm: string;
    };
    return new Uint8Array(Buffer.from(answer.wasm, 'base64'));
  }

  async journal(job: HeldJob): Promise<JournalEntry[]> {
    const answer = (await this.send('jobJournal', { job: job.id }, { token: job.token })) as {
      entries: JournalEntry[];
    };
    return answer.entries;
  }

  async record(
    job: HeldJob,
    call: { seq: number; op: EffectOp; requestHash: string; request: string; idempotent: boolean },
  ): Promise<JournalEntry> {
    const body = { ...call, token: job.token };
    return (await this.send('recordEffect', { job: job.id }, body)) as JournalEntry;
  }

  async markSent(job: HeldJob, seq: number): Promise<JournalEntry> {
    const target = { job: job.id, seq };
    return (await this.send('markEffectSent', target, { token: job.token })) as JournalEntry;
  }

  async completeEffect(job: HeldJob, seq: number, response: string | undefined) {
    const body = { token: job.token, ...(response === undefined ? {} : { response }) };
    return (await this.send('completeEffect', { job: job.id, seq }, body)) as JournalEntry;
  }

  async park(job: HeldJob, runAt: string): Promise<void> {
    await this.send('parkJob', { job: job.id }, { token: job.token, runAt });
  }
}

import type { EffectOp } from '../../core/jobs/effect-journal.ts';
import {
  LeaseLostError,
  type HeldJob,
  type JobEnd,
  type JobLink,
  type JournalEntry,
} from '../../ports/job-link.ts';

export interface HttpJobLinkOptions {
  /** The coordinator's base URL, e.g. http://127.0.0.1:7070 (the `/v1` prefix is added). */
  url: string;
  /** A bearer token admitted to node-scoped routes. */
  token: string;
  node: string;
  tenant: string;
  pool: string;
  worker: string;
  leaseMs: number;
}

const TRANSIENT_TRIES = 5;

interface Leased {
  id: string;
  leaseToken: string;
  input: string;
  moduleSha256: string;
  timeoutSecs: number;
  startedAt: string | null;
  attempts: number;
}

/**
 * The job link over the coordinator's HTTP API. Every journal write is safe to send again
 * (recording the same call keeps it, completing a completed entry answers it), so transport
 * failures and 5xx answers are retried; a 409 means the lease is gone and is never retried.
 */
export class HttpJobLink implements JobLink {
  constructor(private readonly options: HttpJobLinkOptions) {}

  private jobPath(job: HeldJob, rest: string): string {
    return `/nodes/${this.options.node}/jobs/${job.id}/${rest}`;
  }

  async claim(limit: number, waitMs: number): Promise<HeldJob[]> {
    const { tenant, pool, worker, leaseMs } = this.options;
    const answer = (await this.post(`/nodes/${this.options.node}/jobs/claim`, {
      tenant,
      pool,
      worker,
      limit,
      leaseMs,
      waitMs,
    })) as { jobs: Leased[] };
    return answer.jobs.map((j) => ({
      id: j.id,
      token: j.leaseToken,
      input: j.input,
      moduleSha256: j.moduleSha256,
      timeoutSecs: j.timeoutSecs,
      startedAt: j.startedAt,
      attempts: j.attempts,
    }));
  }

  async heartbeat(job: HeldJob): Promise<void> {
    await this.post(this.jobPath(job, 'heartbeat'), {
      token: job.token,
      leaseMs: this.options.leaseMs,
    });
  }

  async complete(job: HeldJob, end: JobEnd): Promise<void> {
    await this.post(this.jobPath(job, 'complete'), { ...end, token: job.token });
  }

  async module(job: HeldJob): Promise<Uint8Array> {
    const answer = (await this.post(this.jobPath(job, 'module'), { token: job.token })) as {
      wasm: string;
    };
    return new Uint8Array(Buffer.from(answer.wasm, 'base64'));
  }

  async journal(job: HeldJob): Promise<JournalEntry[]> {
    const answer = (await this.post(this.jobPath(job, 'journal'), { token: job.token })) as {
      entries: JournalEntry[];
    };
    return answer.entries;
  }

  async record(
    job: HeldJob,
    call: { seq: number; op: EffectOp; requestHash: string; request: string; idempotent: boolean },
  ): Promise<JournalEntry> {
    return (await this.post(this.jobPath(job, 'effects'), {
      ...call,
      token: job.token,
    })) as JournalEntry;
  }

  async markSent(job: HeldJob, seq: number): Promise<JournalEntry> {
    return (await this.post(this.jobPath(job, `effects/${seq}/sent`), {
      token: job.token,
    })) as JournalEntry;
  }

  async completeEffect(job: HeldJob, seq: number, response: string | undefined) {
    return (await this.post(this.jobPath(job, `effects/${seq}/complete`), {
      token: job.token,
      ...(response === undefined ? {} : { response }),
    })) as JournalEntry;
  }

  async park(job: HeldJob, runAt: string): Promise<void> {
    await this.post(this.jobPath(job, 'park'), { token: job.token, runAt });
  }

  private async post(path: string, body: unknown): Promise<unknown> {
    let lastError: unknown;
    for (let attempt = 0; attempt < TRANSIENT_TRIES; attempt += 1) {
      if (attempt > 0) await delay(100 * 2 ** attempt);
      let response: Response;
      try {
        response = await fetch(`${this.options.url}/v1${path}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${this.options.token}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify(body),
        });
      } catch (error) {
        lastError = error;
        continue;
      }
      const text = await response.text();
      if (response.ok) return JSON.parse(text) as unknown;
      const message = errorText(text, response.status);
      if (response.status === 409) throw new LeaseLostError(jobOf(path), message);
      lastError = new Error(`${path}: ${message}`);
      if (response.status < 500) break;
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }
}

function errorText(text: string, status: number): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } };
    return parsed.error?.message ?? `HTTP ${status}`;
  } catch {
    return `HTTP ${status}: ${text.slice(0, 200)}`;
  }
}

function jobOf(path: string): string {
  return path.split('/')[4] ?? '';
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

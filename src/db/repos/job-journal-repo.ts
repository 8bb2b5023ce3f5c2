import type { Kysely, Selectable } from 'kysely';
import { ConflictError, NotFoundError } from '../../core/errors.ts';
import {
  decideRecord,
  storePerforms,
  type EffectEntry,
  type EffectOp,
  type EffectState,
} from '../../core/jobs/effect-journal.ts';
import { kvRequest } from '../../core/jobs/kv-request.ts';
import type { JobJournal, JournalFence, RecordEffect } from '../../ports/job-store.ts';
import type { Database, JobEffectsTable } from '../schema.ts';

interface Held {
  tenantId: string;
  attempt: number;
}

/**
 * The effect journal on the store (core/jobs/effect-journal.ts has the rules). Each write
 * first touches the job's row under the lease predicate: 0 rows means the lease is lost and
 * nothing is written; otherwise the row stays locked (Postgres) or the write lock is already
 * held (SQLite, IMMEDIATE) until commit, so no sweep or claim can slip in between the check
 * and the entry.
 */
export class KyselyJobJournal implements JobJournal {
  constructor(private readonly db: Kysely<Database>) {}

  async entries(jobId: string): Promise<EffectEntry[]> {
    const rows = await this.db
      .selectFrom('job_effects')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('seq')
      .execute();
    return rows.map(fromRow);
  }

  private async fence(fence: JournalFence): Promise<Held | undefined> {
    const row = await this.db
      .updateTable('jobs')
      .set({ updated_at: fence.at })
      .where('id', '=', fence.jobId)
      .where('state', '=', 'running')
      .where('lease_token', '=', fence.token)
      .where('lease_expires_at', '>', fence.at)
      .returning(['tenant_id', 'attempts'])
      .executeTakeFirst();
    return row && { tenantId: row.tenant_id, attempt: row.attempts };
  }

  private async entry(jobId: string, seq: number): Promise<EffectEntry | undefined> {
    const row = await this.db
      .selectFrom('job_effects')
      .selectAll()
      .where('job_id', '=', jobId)
      .where('seq', '=', seq)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async record(fence: JournalFence, call: RecordEffect): Promise<EffectEntry | undefined> {
    const held = await this.fence(fence);
    if (held === undefined) return undefined;
    const existing = await this.entry(fence.jobId, call.seq);
    const length = await this.length(fence.jobId);
    const decision = decideRecord(existing, length, call);
    if (decision.kind === 'refuse') {
      throw new ConflictError(`job ${fence.jobId}: ${decision.message}`, { reason: 'journal' });
    }
    if (decision.kind === 'keep') return decision.entry;
    const entry: EffectEntry = {
      jobId: fence.jobId,
      ...call,
      state: 'recorded',
      response: null,
      attempt: held.attempt,
      recordedAt: fence.at,
      completedAt: null,
    };
    await this.db.insertInto('job_effects').values(toRow(entry)).execute();
    return entry;
  }

  private async length(jobId: string): Promise<number> {
    const row = await this.db
      .selectFrom('job_effects')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('job_id', '=', jobId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async markSent(fence: JournalFence, seq: number): Promise<EffectEntry | undefined> {
    const held = await this.fence(fence);
    if (held === undefined) return undefined;
    const entry = await this.required(fence.jobId, seq);
    if (entry.state === 'completed') return entry;
    await this.update(fence.jobId, seq, { state: 'sent', attempt: held.attempt });
    return { ...entry, state: 'sent', attempt: held.attempt };
  }

  async complete(
    fence: JournalFence,
    seq: number,
    response: string | undefined,
  ): Promise<EffectEntry | undefined> {
    const held = await this.fence(fence);
    if (held === undefined) return undefined;
    const entry = await this.required(fence.jobId, seq);
    if (entry.state === 'completed') return entry;
    const answer = storePerforms(entry.op)
      ? await this.performKv(held.tenantId, entry, fence.at)
      : response;
    if (answer === undefined) {
      throw new ConflictError(`job ${fence.jobId}: call ${seq} (${entry.op}) needs a response`);
    }
    const done = {
      ...entry,
      state: 'completed' as const,
      response: answer,
      attempt: held.attempt,
      completedAt: fence.at,
    };
    await this.update(fence.jobId, seq, {
      state: 'completed',
      response: answer,
      attempt: held.attempt,
      completed_at: fence.at,
    });
    return done;
  }

  private async required(jobId: string, seq: number): Promise<EffectEntry> {
    const entry = await this.entry(jobId, seq);
    if (entry === undefined) throw new NotFoundError('journal entry', `${jobId}:${seq}`);
    return entry;
  }

  private async update(jobId: string, seq: number, patch: Partial<JobEffectsTable>) {
    await this.db
      .updateTable('job_effects')
      .set(patch)
      .where('job_id', '=', jobId)
      .where('seq', '=', seq)
      .execute();
  }

  /** kv_get / kv_set on the tenant's KV: the answer the module gets, as JSON text. */
  private async performKv(tenantId: string, entry: EffectEntry, at: string): Promise<string> {
    const request = kvRequest(entry.op, entry.request);
    if ('error' in request) return JSON.stringify({ error: request.error });
    const current = await this.kvGet(tenantId, request.key);
    if (request.value === undefined) {
      return JSON.stringify({ value: current?.value ?? null, version: current?.version ?? 0 });
    }
    const version = (current?.version ?? 0) + 1;
    await this.db
      .insertInto('job_kv')
      .values({
        tenant_id: tenantId,
        key: request.key,
        value: request.value,
        version,
        updated_at: at,
      })
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'key'])
          .doUpdateSet({ value: request.value, version, updated_at: at }),
      )
      .execute();
    return JSON.stringify({ version });
  }

  async kvGet(tenantId: string, key: string) {
    const row = await this.db
      .selectFrom('job_kv')
      .select(['value', 'version'])
      .where('tenant_id', '=', tenantId)
      .where('key', '=', key)
      .executeTakeFirst();
    return row && { value: row.value, version: row.version };
  }
}

function fromRow(row: Selectable<JobEffectsTable>): EffectEntry {
  return {
    jobId: row.job_id,
    seq: row.seq,
    op: row.op as EffectOp,
    requestHash: row.request_hash,
    request: row.request,
    state: row.state as EffectState,
    idempotent: row.idempotent === 1,
    response: row.response,
    attempt: row.attempt,
    recordedAt: row.recorded_at,
    completedAt: row.completed_at,
  };
}

function toRow(entry: EffectEntry): JobEffectsTable {
  return {
    job_id: entry.jobId,
    seq: entry.seq,
    op: entry.op,
    request_hash: entry.requestHash,
    request: entry.request,
    state: entry.state,
    idempotent: entry.idempotent ? 1 : 0,
    response: entry.response,
    attempt: entry.attempt,
    recorded_at: entry.recordedAt,
    completed_at: entry.completedAt,
  };
}

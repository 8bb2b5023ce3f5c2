import type { z } from 'zod';
import { NotFoundError } from '../../core/errors.ts';
import type { EffectEntry, EffectOp } from '../../core/jobs/effect-journal.ts';
import type { completeEffectSchema, recordEffectSchema } from '../../contract/job-effects.ts';
import type { JournalFence } from '../../ports/job-store.ts';
import type { Repos } from '../../ports/store.ts';
import type { ChangeNotifier } from '../desired/change-notifier.ts';
import { lostLease, requireHolder } from '../jobs/lease-holder.ts';
import type { ServiceDeps } from './context.ts';
import { jobView } from './job-service.ts';

const view = ({ jobId: _job, ...entry }: EffectEntry) => entry;

/**
 * An executor's durable journal of a held job (core/jobs/effect-journal.ts has the rules):
 * its module, its entries, recording and completing calls, and parking it while it sleeps.
 * Every call names the lease token and runs in one store transaction that checks it, so a
 * worker that lost its lease writes nothing (409 lease_lost).
 */
export class JournalService {
  constructor(private readonly deps: ServiceDeps & { notifier: ChangeNotifier }) {}

  private fence(jobId: string, token: string): JournalFence {
    return { jobId, token, at: this.deps.clock.now().toISOString() };
  }

  /** Runs `write` in one transaction after the node check; undefined from it is lease_lost. */
  private async fenced<T>(
    nodeId: string,
    jobId: string,
    write: (repos: Repos) => Promise<T | undefined>,
  ): Promise<T> {
    await requireHolder(this.deps.store, nodeId, jobId);
    const result = await this.deps.store.transaction(write);
    if (result === undefined) throw lostLease(jobId);
    return result;
  }

  async module(nodeId: string, jobId: string, token: string) {
    return this.fenced(nodeId, jobId, async (repos) => {
      const job = await repos.jobs.get(jobId);
      if (job?.leaseToken !== token) return undefined;
      const module = await repos.jobModules.get(job.tenantId, job.moduleSha256);
      if (module === undefined) throw new NotFoundError('job module', job.moduleSha256);
      return { sha256: module.sha256, wasm: Buffer.from(module.bytes).toString('base64') };
    });
  }

  async entries(nodeId: string, jobId: string, token: string) {
    return this.fenced(nodeId, jobId, async (repos) => {
      const job = await repos.jobs.get(jobId);
      if (job?.leaseToken !== token) return undefined;
      return { entries: (await repos.jobJournal.entries(jobId)).map(view) };
    });
  }

  async record(nodeId: string, jobId: string, body: z.output<typeof recordEffectSchema>) {
    const { token, ...call } = body;
    const fence = this.fence(jobId, token);
    const entry = await this.fenced(nodeId, jobId, (repos) =>
      repos.jobJournal.record(fence, { ...call, op: call.op as EffectOp }),
    );
    return view(entry);
  }

  async markSent(nodeId: string, jobId: string, seq: number, token: string) {
    const fence = this.fence(jobId, token);
    return view(await this.fenced(nodeId, jobId, (r) => r.jobJournal.markSent(fence, seq)));
  }

  async complete(
    nodeId: string,
    jobId: string,
    seq: number,
    body: z.output<typeof completeEffectSchema>,
  ) {
    const fence = this.fence(jobId, body.token);
    const entry = await this.fenced(nodeId, jobId, (repos) =>
      repos.jobJournal.complete(fence, seq, body.response),
    );
    return view(entry);
  }

  /** A `sleep`: the lease goes back and the job is due again at `runAt`. */
  async park(nodeId: string, jobId: string, body: { token: string; runAt: string }) {
    const { at } = this.fence(jobId, body.token);
    const job = await this.fenced(nodeId, jobId, (repos) =>
      repos.jobQueue.park(jobId, body.token, at, new Date(body.runAt).toISOString()),
    );
    this.deps.notifier.notify({ jobs: [`${job.tenantId}/${job.poolId}`] });
    return jobView(job);
  }
}

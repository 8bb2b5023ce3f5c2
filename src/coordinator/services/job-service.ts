import { randomBytes, randomInt } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.ts';
import { defaultRetryPolicy, type RetryPolicy } from '../../core/jobs/backoff.ts';
import type { Job } from '../../core/jobs/job.ts';
import { MAX_MODULE_BYTES } from '../../core/jobs/module-check.ts';
import type {
  ClaimJobsRequest,
  CompleteJobRequest,
  JobView,
  SubmitJobRequest,
} from '../../contract/jobs.ts';
import type { JobState } from '../../core/jobs/job.ts';
import type { ChangeNotifier } from '../desired/change-notifier.ts';
import { storeJobModule } from '../jobs/module-intake.ts';
import { lostLease, requireHolder } from '../jobs/lease-holder.ts';
import type { Principal } from '../principal.ts';
import { audit, type ServiceDeps } from './context.ts';
import { loadPool } from './pool-service.ts';
import { loadTenant } from './tenant-service.ts';

/** Coordinator settings for jobs (serve.ts reads them from the environment). */
export interface JobSettings {
  /** Jobs one tenant may have running at once; undefined: no limit. */
  maxRunningJobsPerTenant?: number;
  /** The largest memory maximum a job module may declare. */
  maxJobMemoryMib: number;
  retry: RetryPolicy;
}

export const defaultJobSettings: JobSettings = { maxJobMemoryMib: 1024, retry: defaultRetryPolicy };

const DEFAULT_LEASE_MS = 30_000;
const DEFAULT_TIMEOUT_SECS = 600;
const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_LIST_LIMIT = 100;

export function jobView(job: Job): JobView {
  return {
    id: job.id,
    tenant: job.tenantId,
    pool: job.poolId,
    moduleSha256: job.moduleSha256,
    input: job.input,
    state: job.state,
    priority: job.priority,
    attempts: job.attempts,
    failedAttempts: job.failedAttempts,
    lostAttempts: job.lostAttempts,
    maxAttempts: job.maxAttempts,
    runAt: job.runAt,
    worker: job.worker,
    leaseExpiresAt: job.leaseExpiresAt,
    timeoutSecs: job.timeoutSecs,
    startedAt: job.startedAt,
    key: job.idempotencyKey,
    retryOf: job.retryOf,
    result: job.result,
    errorCode: job.errorCode,
    error: job.error,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    finishedAt: job.finishedAt,
  };
}

const leased = (job: Job) => ({ ...jobView(job), leaseToken: job.leaseToken ?? '' });

/**
 * Jobs: submit (check and store the module, insert the job, wake claimers here and on other
 * replicas), the tenant's view, and the workers' leased claim, heartbeat and completion.
 */
export class JobService {
  /** Aborted by close(): waiting claims answer at once instead of holding the listener. */
  private readonly closing = new AbortController();

  constructor(
    private readonly deps: ServiceDeps & { notifier: ChangeNotifier; jobs: JobSettings },
  ) {}

  close(): void {
    this.closing.abort();
  }

  private now(): string {
    return this.deps.clock.now().toISOString();
  }

  async submit(principal: Principal, tenantId: string, request: SubmitJobRequest) {
    const bytes = Buffer.from(request.wasm, 'base64');
    if (bytes.length > MAX_MODULE_BYTES) {
      throw new ValidationError(`the module is ${bytes.length} bytes; at most ${MAX_MODULE_BYTES}`);
    }
    const at = this.now();
    const result = await this.deps.store.transaction(async (repos) => {
      await loadTenant(repos, tenantId);
      await loadPool(repos, tenantId, request.pool);
      const limits = {
        maxMemoryMib: this.deps.jobs.maxJobMemoryMib,
        maxModuleBytes: MAX_MODULE_BYTES,
      };
      const module = await storeJobModule(repos, tenantId, bytes, limits, at);
      const inserted = await repos.jobs.insert(newJob(tenantId, request, module.sha256, at));
      if (!inserted.created) return inserted;
      await repos.jobQueue.announce(tenantId, request.pool);
      await audit(repos, this.deps, principal, {
        tenantId,
        action: 'job.submit',
        target: `${tenantId}/${inserted.job.id}`,
        detail: { pool: request.pool, module: module.sha256 },
      });
      return inserted;
    });
    if (result.created) this.deps.notifier.notify({ jobs: [`${tenantId}/${request.pool}`] });
    return { job: jobView(result.job), created: result.created };
  }

  async list(
    tenantId: string,
    query: {
      pool?: string;
      state?: JobState;
      limit?: number;
      before?: { createdAt: string; id: string };
    },
  ) {
    await loadTenant(this.deps.store, tenantId);
    const jobs = await this.deps.store.jobs.list({
      tenantId,
      ...(query.pool !== undefined ? { poolId: query.pool } : {}),
      ...(query.state !== undefined ? { state: query.state } : {}),
      limit: query.limit ?? DEFAULT_LIST_LIMIT,
      ...(query.before !== undefined ? { before: query.before } : {}),
    });
    return jobs.map(jobView);
  }

  /** The tenant's job; another tenant's is answered as missing. */
  private async load(tenantId: string, id: string): Promise<Job> {
    const job = await this.deps.store.jobs.get(id);
    if (job === undefined || job.tenantId !== tenantId) {
      throw new NotFoundError('job', `${tenantId}/${id}`, `see 'mvm job list ${tenantId}'`);
    }
    return job;
  }

  async get(tenantId: string, id: string) {
    return jobView(await this.load(tenantId, id));
  }

  async logs(tenantId: string, id: string) {
    const job = await this.load(tenantId, id);
    const events = (await this.deps.store.audit.list({ tenantId, limit: 1000 }))
      .filter((e) => e.target === `${tenantId}/${id}`)
      .map((e) => ({ at: e.at, what: `${e.action} by ${e.actor}` }))
      .reverse();
    return {
      id: job.id,
      state: job.state,
      attempts: job.attempts,
      failedAttempts: job.failedAttempts,
      lostAttempts: job.lostAttempts,
      maxAttempts: job.maxAttempts,
      lastError: job.errorCode === null ? null : { code: job.errorCode, message: job.error ?? '' },
      events,
    };
  }

  async cancel(principal: Principal, tenantId: string, id: string) {
    await this.load(tenantId, id);
    const at = this.now();
    const job = await this.deps.store.transaction(async (repos) => {
      const cancelled = await repos.jobQueue.cancel(id, at);
      await audit(repos, this.deps, principal, {
        tenantId,
        action: 'job.cancel',
        target: `${tenantId}/${id}`,
      });
      return cancelled;
    });
    return jobView(job);
  }

  /** A terminal job's module and input again, as a new job naming the old one. */
  async retry(principal: Principal, tenantId: string, id: string) {
    const old = await this.load(tenantId, id);
    if (!['succeeded', 'failed', 'cancelled', 'dead'].includes(old.state)) {
      throw new ConflictError(`job ${id} is '${old.state}'; only a finished job can be retried`);
    }
    const at = this.now();
    const fresh: Job = {
      ...newJob(
        tenantId,
        {
          pool: old.poolId,
          wasm: '',
          input: old.input,
          priority: old.priority,
          maxAttempts: old.maxAttempts,
          timeoutSecs: old.timeoutSecs,
        },
        old.moduleSha256,
        at,
      ),
      retryOf: old.id,
    };
    await this.deps.store.transaction(async (repos) => {
      await repos.jobs.insert(fresh);
      await repos.jobQueue.announce(tenantId, old.poolId);
      await audit(repos, this.deps, principal, {
        tenantId,
        action: 'job.retry',
        target: `${tenantId}/${fresh.id}`,
        detail: { retryOf: old.id },
      });
    });
    this.deps.notifier.notify({ jobs: [`${tenantId}/${old.poolId}`] });
    return { job: jobView(fresh), created: true };
  }

  /**
   * A worker's claim. When nothing is claimable it waits up to `waitMs` for a submit here or,
   * on Postgres, on any replica (LISTEN/NOTIFY feeds the same notifier), and tries again: the
   * notifier's count is read before each claim, so a submit during the claim is not missed.
   * `completed` (the worker's successes since its last claim) are succeeded in the first
   * round trip, each fenced by its token and held by this very worker; the answer then says
   * which succeeded and which were lost. `limit` 0 only completes.
   */
  async claim(nodeId: string, request: ClaimJobsRequest) {
    const completed = request.completed ?? [];
    const limit = request.limit ?? 1;
    if (limit === 0 && completed.length === 0) {
      throw new ValidationError('a claim of 0 jobs must carry completions', [
        'limit: 0 needs completed',
      ]);
    }
    await this.requireWorker(nodeId, request.tenant, request.pool, request.worker);
    const worker = `${nodeId}/${request.worker}`;
    const signal = this.closing.signal;
    const deadline = Date.now() + (request.waitMs ?? 0);
    let finished: { succeeded: string[]; lost: string[] } | undefined;
    for (;;) {
      const since = this.deps.notifier.current;
      const quota = await this.runningLimit(request.tenant);
      const claim = {
        worker,
        at: this.now(),
        leaseMs: request.leaseMs ?? DEFAULT_LEASE_MS,
        limit,
        tenantId: request.tenant,
        poolId: request.pool,
        // Only while the worker is meant to run: a shrink or an idle lowering stops claims.
        instanceId: request.worker,
        token: randomBytes(24).toString('base64url'),
        ...(quota === undefined ? {} : { maxRunningPerTenant: quota }),
      };
      const queue = this.deps.store.jobQueue;
      let jobs: Job[];
      if (finished === undefined && completed.length > 0) {
        const done = completed.map((c) => ({ id: c.job, token: c.token, result: c.result }));
        const step = await queue.succeedAndClaim(done, claim, worker);
        finished = { succeeded: step.succeeded, lost: step.lost };
        jobs = step.jobs;
      } else {
        jobs = limit === 0 ? [] : await queue.claim(claim);
      }
      const left = deadline - Date.now();
      if (jobs.length > 0 || left <= 0 || signal.aborted || limit === 0) {
        return { jobs: jobs.map(leased), ...(finished ?? {}) };
      }
      await this.deps.notifier.waitForJobs(
        since,
        { tenantId: request.tenant, poolId: request.pool },
        left,
        signal,
      );
    }
  }

  /**
   * The tenant's running-jobs quota (its `maxRunningJobs`), capped by the coordinator's
   * setting; undefined when neither limits it. Read on every claim, so a change applies to the
   * next one.
   */
  private async runningLimit(tenantId: string): Promise<number | undefined> {
    const own = (await loadTenant(this.deps.store, tenantId)).maxRunningJobs ?? undefined;
    const fleet = this.deps.jobs.maxRunningJobsPerTenant;
    if (own === undefined) return fleet;
    return fleet === undefined ? own : Math.min(own, fleet);
  }

  /**
   * The node vouches for its worker: a claim names an instance of the pool placed on the
   * calling node, so one node cannot take jobs of pools it does not run.
   */
  private async requireWorker(nodeId: string, tenantId: string, poolId: string, worker: string) {
    const placed = await this.deps.store.instances.list({ nodeId, tenantId, poolId });
    const alive = placed.some(
      (i) => i.id === worker && i.desiredStatus !== 'destroyed' && i.status !== 'destroyed',
    );
    if (!alive) {
      throw new NotFoundError(
        'worker instance',
        `${tenantId}/${poolId}/${worker}`,
        `node '${nodeId}' runs no such instance of the pool`,
      );
    }
  }

  async heartbeat(nodeId: string, id: string, token: string, leaseMs?: number) {
    await requireHolder(this.deps.store, nodeId, id);
    const job = await this.deps.store.jobQueue.heartbeat(
      id,
      token,
      this.now(),
      leaseMs ?? DEFAULT_LEASE_MS,
    );
    if (job === undefined) throw lostLease(id);
    return leased(job);
  }

  async complete(nodeId: string, id: string, request: CompleteJobRequest) {
    await requireHolder(this.deps.store, nodeId, id);
    const at = this.now();
    const queue = this.deps.store.jobQueue;
    const job =
      request.outcome === 'succeeded'
        ? await queue.succeed(id, request.token, at, request.result)
        : await queue.fail(
            id,
            request.token,
            {
              at,
              code: request.code,
              message: request.message,
              retryable: request.retryable,
              jitter: Math.random(),
            },
            this.deps.jobs.retry,
          );
    if (job === undefined) throw lostLease(id);
    return jobView(job);
  }

  /** One sweeper pass: expired leases requeued as lost, overrun attempts failed. */
  async sweep(limit = 500): Promise<Job[]> {
    const swept = await this.deps.store.jobQueue.sweep(
      this.now(),
      this.deps.jobs.retry,
      Math.random,
      limit,
    );
    const requeued = swept.filter((job) => job.state === 'queued');
    if (requeued.length > 0) {
      this.deps.notifier.notify({
        jobs: [...new Set(requeued.map((j) => `${j.tenantId}/${j.poolId}`))],
      });
    }
    return swept;
  }
}

function newJob(tenantId: string, request: SubmitJobRequest, sha256: string, at: string): Job {
  return {
    id: `j-${randomInt(36 ** 6, 36 ** 7).toString(36)}${randomInt(36 ** 6, 36 ** 7).toString(36)}`,
    tenantId,
    poolId: request.pool,
    moduleSha256: sha256,
    input: request.input ?? 'null',
    state: 'queued',
    priority: request.priority ?? 0,
    attempts: 0,
    failedAttempts: 0,
    lostAttempts: 0,
    maxAttempts: request.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    runAt: at,
    leaseToken: null,
    leaseExpiresAt: null,
    worker: null,
    timeoutSecs: request.timeoutSecs ?? DEFAULT_TIMEOUT_SECS,
    startedAt: null,
    idempotencyKey: request.key ?? null,
    retryOf: null,
    result: null,
    errorCode: null,
    error: null,
    createdAt: at,
    updatedAt: at,
    finishedAt: null,
    version: 1,
  };
}

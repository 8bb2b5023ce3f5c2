import type { Job, JobState } from '../core/jobs/job.ts';

/** A job module as stored: content-addressed per tenant by the sha256 of its bytes. */
export interface JobModule {
  tenantId: string;
  /** Lower-case hex sha256 of `bytes`. */
  sha256: string;
  bytes: Uint8Array;
  createdAt: string;
}

export interface JobModuleRepo {
  /**
   * Stores the module unless the tenant already has one with this hash (the same bytes, by
   * construction). True when this call stored it. Throws NotFoundError for a missing tenant.
   */
  put(module: JobModule): Promise<boolean>;
  get(tenantId: string, sha256: string): Promise<JobModule | undefined>;
}

export interface JobFilter {
  tenantId?: string;
  poolId?: string;
  state?: JobState;
  /** Newest first; at most this many. */
  limit: number;
}

export interface JobRepo {
  /**
   * Inserts a job. When the tenant already has a job with the same idempotency key, inserts
   * nothing and returns that job with `created: false`, whatever else differs (the caller
   * decides whether a differing resubmission is an error). Throws AlreadyExistsError for a
   * duplicate id, NotFoundError when the tenant or the module is missing.
   */
  insert(job: Job): Promise<{ job: Job; created: boolean }>;
  get(id: string): Promise<Job | undefined>;
  findByKey(tenantId: string, idempotencyKey: string): Promise<Job | undefined>;
  list(filter: JobFilter): Promise<Job[]>;
}

import { jobStates } from '../../../core/jobs/job.ts';
import { arg, defineCommand, option } from '../../command.ts';
import { choice, id, integer } from '../../values.ts';
import { jobFields, jobTable } from '../../views/job-views.ts';
import { jobPath } from './job-ref.ts';

const jobArg = { job: arg(jobPath, 'the tenant and the job id') };
const ref = (job: { tenantId: string; jobId: string }) => ({
  params: { tenant: job.tenantId, job: job.jobId },
});

export const jobList = defineCommand({
  path: ['job', 'list'],
  description: "List a tenant's jobs, newest first",
  args: { tenant: arg(id('tenant'), 'the tenant') },
  options: {
    pool: option(id('pool'), 'only this pool'),
    state: option(choice(jobStates, '<state>'), 'only jobs in this state'),
    last: option(integer(1, 1000), 'at most this many (default 100)'),
  },
  output: 'data',
  async handler(ctx, args, opts) {
    // The newest jobs: one page of --last (the server's default list is 100).
    const { items: jobs } = await ctx.client().page('listJobs', {
      params: { tenant: args.tenant },
      query: {
        ...(opts.pool === undefined ? {} : { pool: opts.pool }),
        ...(opts.state === undefined ? {} : { state: opts.state }),
        limit: opts.last ?? 100,
      },
    });
    return { data: jobs, human: [jobTable(jobs, 'no jobs')] };
  },
});

export const jobInfo = defineCommand({
  path: ['job', 'info'],
  description: 'A job: state, attempts, lease holder, result or last error',
  args: jobArg,
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const job = await ctx.client().call('getJob', ref(args.job));
    return { data: job, human: [jobFields(job)] };
  },
});

export const jobLogs = defineCommand({
  path: ['job', 'logs'],
  description: "A job's history: its attempts (failed and lost apart), last error and events",
  args: jobArg,
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const log = await ctx.client().call('jobLogs', ref(args.job));
    return {
      data: log,
      human: [
        {
          kind: 'fields',
          fields: [
            ['state', log.state],
            [
              'attempts',
              `${log.attempts} of which failed ${log.failedAttempts}, lost ${log.lostAttempts}; max ${log.maxAttempts}`,
            ],
            [
              'last error',
              log.lastError === null ? '-' : `${log.lastError.code}: ${log.lastError.message}`,
            ],
          ],
        },
        {
          kind: 'table',
          columns: ['AT', 'EVENT'],
          rows: log.events.map((e) => [e.at, e.what]),
          empty: 'no events',
        },
      ],
    };
  },
});

export const jobCancel = defineCommand({
  path: ['job', 'cancel'],
  description: 'Cancel a queued or running job; its worker is refused from then on',
  args: jobArg,
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const job = await ctx.client().call('cancelJob', ref(args.job));
    return {
      data: job,
      human: [{ kind: 'text', text: `cancelled job '${args.job.tenantId}/${job.id}'` }],
    };
  },
});

export const jobRetry = defineCommand({
  path: ['job', 'retry'],
  description: "Run a finished job's module and input again, as a new job naming it",
  args: jobArg,
  options: {},
  output: 'data',
  async handler(ctx, args) {
    const submitted = await ctx.client().call('retryJob', ref(args.job));
    return {
      data: submitted,
      human: [
        {
          kind: 'text',
          text: `submitted job '${args.job.tenantId}/${submitted.job.id}' (retry of ${args.job.jobId})`,
        },
        jobFields(submitted.job),
      ],
    };
  },
});

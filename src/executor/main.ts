/**
 * The job executor (docs/jobs.md, "The executor"): claims jobs of one pool for one worker, runs
 * each in a wasm thread with the durable journal, and heartbeats its lease. Runs on Node 18 (a
 * guest's Debian nodejs) as well as 20: only WebAssembly, worker_threads, fetch and
 * node:crypto. Settings are flags; the token comes from MVM_EXECUTOR_TOKEN so it is not in the
 * process list.
 *
 *   node executor.mjs --url http://127.0.0.1:7070 --node n1 --tenant acme --pool ci --worker w-1
 *
 * Inside a worker guest it runs with `--stdio` instead of --url and --node: its calls go as
 * lines on stdout to the host agent, which speaks for the instance (stdio-job-link.ts); its
 * own log lines then go to stderr.
 */
import { parseArgs } from 'node:util';
import { HttpJobLink } from '../drivers/job-link/http-job-link.ts';
import { StdioJobLink } from '../drivers/job-link/stdio-job-link.ts';
import type { HeldJob, JobLink } from '../ports/job-link.ts';
import { faultHook } from './faults.ts';
import { runJob, type RunOptions } from './run-job.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    stdio: { type: 'boolean', default: false },
    node: { type: 'string' },
    tenant: { type: 'string' },
    pool: { type: 'string' },
    worker: { type: 'string' },
    'lease-ms': { type: 'string', default: '30000' },
    'max-memory-mib': { type: 'string', default: '1024' },
    /** Exit after this many jobs ended here (tests); 0: run until stopped. */
    'max-jobs': { type: 'string', default: '0' },
    /** Exit when no job came for this long (tests); 0: wait forever. */
    'idle-exit-ms': { type: 'string', default: '0' },
  },
});

function required(name: keyof typeof values): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') {
    process.stderr.write(`executor: --${name} is required\n`);
    process.exit(2);
  }
  return value;
}

const leaseMs = Number(values['lease-ms']);
const worker = {
  tenant: required('tenant'),
  pool: required('pool'),
  worker: required('worker'),
  leaseMs,
};
const link: JobLink = values.stdio
  ? new StdioJobLink(process.stdin, process.stdout, worker)
  : new HttpJobLink({
      url: required('url'),
      token: process.env.MVM_EXECUTOR_TOKEN ?? '',
      node: required('node'),
      ...worker,
    });
const logOut = values.stdio ? process.stderr : process.stdout;
const options: RunOptions = {
  maxMemoryMib: Number(values['max-memory-mib']),
  fault: faultHook(process.env.MVM_EXECUTOR_FAULT),
  heartbeatMs: Math.max(200, Math.floor(leaseMs / 3)),
};

function say(fields: Record<string, unknown>): void {
  logOut.write(`${JSON.stringify({ at: new Date().toISOString(), ...fields })}\n`);
}

/**
 * Claims a job, runs it, and carries its success to the next claim: one round trip both
 * completes the job (fenced by its token) and claims the next. A failure completes at once.
 */
async function serve(): Promise<void> {
  const maxJobs = Number(values['max-jobs']);
  const idleExitMs = Number(values['idle-exit-ms']);
  let ended = 0;
  let idleSince = Date.now();
  let pending: Array<{ job: HeldJob; result: string }> = [];
  const settle = async (limit: number, waitMs: number): Promise<HeldJob[]> => {
    const done = pending;
    pending = [];
    if (done.length === 0) return limit === 0 ? [] : link.claim(limit, waitMs);
    const answer = await link.completeAndClaim(done, limit, waitMs);
    for (const { job } of done) {
      const lost = answer.lost.includes(job.id);
      say({ event: lost ? 'lost' : 'completed', job: job.id });
    }
    return answer.jobs;
  };
  for (;;) {
    const jobs = await settle(1, 5000);
    for (const job of jobs) {
      say({ event: 'claimed', job: job.id, attempt: job.attempts });
      const deferSuccess = (result: string) => pending.push({ job, result });
      const result = await runJob(link, job, { ...options, deferSuccess });
      say({ event: 'ended', job: job.id, result });
      ended += 1;
      idleSince = Date.now();
    }
    if (maxJobs > 0 && ended >= maxJobs) {
      await settle(0, 0);
      return;
    }
    if (jobs.length === 0 && idleExitMs > 0 && Date.now() - idleSince > idleExitMs) return;
  }
}

serve().then(
  () => process.exit(0),
  (error: unknown) => {
    say({ event: 'crashed', error: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  },
);

/**
 * What the host agent lets a worker guest's executor ask of the coordinator (docs/jobs.md,
 * "Executors in worker microVMs"). The guest holds no credential and names no identity: the
 * agent knows which instance the channel belongs to and speaks for it. So a claim is made for
 * that instance only, and every other call must name a job this instance claimed through the
 * agent and has not ended. Anything else is refused here and never reaches the coordinator.
 */

/** Who the channel belongs to, as the host agent knows it. */
export interface GuestWorker {
  nodeId: string;
  instanceId: string;
  tenantId: string;
  poolId: string;
}

/** A call line, already shape-checked (contract/guest-job-call.ts). */
export interface GuestCallInput {
  call: string;
  job?: string | undefined;
  seq?: number | undefined;
  body: Readonly<Record<string, unknown>>;
}

export type GuestCallParams = { node: string; job?: string; seq?: number };

export type GuestAdmission =
  | { ok: true; params: GuestCallParams; body: Record<string, unknown> }
  | { ok: false; status: 400 | 403; message: string };

const JOB_CALLS = new Set([
  'heartbeatJob',
  'completeJob',
  'jobModule',
  'jobJournal',
  'recordEffect',
  'parkJob',
]);
const EFFECT_CALLS = new Set(['markEffectSent', 'completeEffect']);
/** The calls after whose success the job is no longer this worker's. */
const ENDING_CALLS = new Set(['completeJob', 'parkJob']);

function refuse(status: 400 | 403, message: string): GuestAdmission {
  return { ok: false, status, message };
}

/** The jobs a claim's `completed` names (a malformed list is left to the route's schema). */
export function claimCompletions(input: GuestCallInput): string[] {
  const completed = input.body.completed;
  if (input.call !== 'claimJobs' || !Array.isArray(completed)) return [];
  return completed.map((c: unknown) =>
    typeof c === 'object' && c !== null && 'job' in c ? String(c.job) : '',
  );
}

/**
 * The claim is this instance's: any identity the guest wrote must be its own, and the jobs it
 * completes on the way must be ones it holds.
 */
function admitClaim(
  input: GuestCallInput,
  who: GuestWorker,
  held: ReadonlySet<string>,
): GuestAdmission {
  const foreign = claimCompletions(input).find((job) => !held.has(job));
  if (foreign !== undefined) {
    return refuse(403, `job '${foreign}' is not held by instance '${who.instanceId}'`);
  }
  const own = { tenant: who.tenantId, pool: who.poolId, worker: who.instanceId };
  for (const [field, value] of Object.entries(own)) {
    const named = input.body[field];
    if (named !== undefined && named !== value) {
      return refuse(403, `a guest claims only as its own instance: ${field} must be '${value}'`);
    }
  }
  return { ok: true, params: { node: who.nodeId }, body: { ...input.body, ...own } };
}

export function admitGuestCall(
  input: GuestCallInput,
  who: GuestWorker,
  held: ReadonlySet<string>,
): GuestAdmission {
  if (input.call === 'claimJobs') return admitClaim(input, who, held);
  const effect = EFFECT_CALLS.has(input.call);
  if (!effect && !JOB_CALLS.has(input.call)) {
    return refuse(403, `'${input.call}' is not a call a guest executor may make`);
  }
  if (input.job === undefined || !held.has(input.job)) {
    return refuse(403, `job '${input.job ?? ''}' is not held by instance '${who.instanceId}'`);
  }
  if (effect && input.seq === undefined) return refuse(400, `'${input.call}' needs a seq`);
  const params: GuestCallParams = { node: who.nodeId, job: input.job };
  if (effect) params.seq = input.seq;
  return { ok: true, params, body: { ...input.body } };
}

/** The jobs this instance holds after a call answered. */
export function heldAfter(
  held: ReadonlySet<string>,
  input: GuestCallInput,
  answer: { ok: true; claimed: readonly string[] } | { ok: false; leaseLost: boolean },
): Set<string> {
  const next = new Set(held);
  if (answer.ok) {
    // A claim's completions end those jobs here, succeeded or lost alike.
    for (const id of claimCompletions(input)) next.delete(id);
    for (const id of answer.claimed) next.add(id);
    if (input.job !== undefined && ENDING_CALLS.has(input.call)) next.delete(input.job);
  } else if (answer.leaseLost && input.job !== undefined) {
    next.delete(input.job);
  }
  return next;
}

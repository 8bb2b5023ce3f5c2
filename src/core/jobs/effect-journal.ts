import { abiOps } from './abi.ts';

/**
 * The durable effect journal of a job (docs/jobs.md, "Durable execution"): every `mvm.call` a
 * module makes is an entry at its sequence number, in program order. These are the pure rules
 * a worker follows when a run meets the journal a previous attempt left, and the ones the
 * store applies when an entry is written.
 */
export type EffectOp = keyof typeof abiOps;

/**
 * `recorded`: the call is known, nothing was sent. `sent`: an external write may have reached
 * its peer (marked just before sending). `completed`: the response is recorded; replay answers
 * it and never performs the effect again.
 */
export const effectStates = ['recorded', 'sent', 'completed'] as const;
export type EffectState = (typeof effectStates)[number];

export interface EffectEntry {
  jobId: string;
  seq: number;
  op: EffectOp;
  /** sha256 hex of the request bytes, as effectRequestHash's caller computed it. */
  requestHash: string;
  /** The request JSON text, kept to show a divergence and to run internal effects. */
  request: string;
  state: EffectState;
  /** The module said the external write may be sent again (with `Idempotency-Key`). */
  idempotent: boolean;
  /** JSON text, once completed. */
  response: string | null;
  /** The job's attempt that wrote it last. */
  attempt: number;
  recordedAt: string;
  completedAt: string | null;
}

/**
 * How an in-doubt entry may be run again. `internal`: the store performs it inside the
 * transaction that completes the entry (kv_get, kv_set) or the worker merely produces a value
 * (log, now, random, sleep): running it again changes nothing outside. `read`: an http_fetch
 * that writes nothing (GET, HEAD, OPTIONS). `write`: any other http_fetch.
 */
export type EffectKind = 'internal' | 'read' | 'write';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function effectKind(op: EffectOp, method: string | undefined): EffectKind {
  if (op !== 'http_fetch') return 'internal';
  return READ_METHODS.has((method ?? 'GET').toUpperCase()) ? 'read' : 'write';
}

/** Ops the store performs itself when it completes the entry (the KV changes in that step). */
export function storePerforms(op: EffectOp): boolean {
  return op === 'kv_get' || op === 'kv_set';
}

export const opNames = Object.keys(abiOps) as EffectOp[];

export function opOfCode(code: number): EffectOp | undefined {
  return opNames.find((name) => abiOps[name] === code);
}

/** One call as the module makes it now. */
export interface EffectCall {
  seq: number;
  op: EffectOp;
  requestHash: string;
  kind: EffectKind;
  idempotent: boolean;
}

export interface JournalLimits {
  /** Entries per job; the call that would be one more fails the job as `journal_limit`. */
  maxEntries: number;
}

export const defaultJournalLimits: JournalLimits = { maxEntries: 10_000 };

export type ReplayFailureCode = 'nondeterministic' | 'effect_interrupted' | 'journal_limit';

export type CallDecision =
  /** Completed before: hand the recorded response to the module, perform nothing. */
  | { kind: 'answer'; response: string }
  /**
   * Perform it now. `resume`: the entry exists (recorded, or in doubt and safe to repeat) and
   * is completed in place; otherwise it is recorded first.
   */
  | { kind: 'live'; resume: boolean }
  | { kind: 'fail'; code: ReplayFailureCode; message: string };

/**
 * What to do with call `call` given the journal's entry at its sequence number (undefined past
 * the end). The op and request hash must match what was recorded, or the module is not
 * deterministic: the job fails and the message shows both. An entry that was `sent` but never
 * completed is in doubt: reads and internal effects run again; an external write runs again
 * only when marked idempotent (and carries `Idempotency-Key: <job>:<seq>`), otherwise the job
 * fails as `effect_interrupted` rather than risk doing it twice.
 */
export function decideCall(
  entry: EffectEntry | undefined,
  call: EffectCall,
  limits: JournalLimits = defaultJournalLimits,
): CallDecision {
  if (entry === undefined) {
    if (call.seq >= limits.maxEntries) {
      return {
        kind: 'fail',
        code: 'journal_limit',
        message: `call ${call.seq} would exceed the journal's ${limits.maxEntries} entries`,
      };
    }
    return { kind: 'live', resume: false };
  }
  if (entry.op !== call.op || entry.requestHash !== call.requestHash) {
    return { kind: 'fail', code: 'nondeterministic', message: divergence(entry, call) };
  }
  if (entry.state === 'completed') return { kind: 'answer', response: entry.response ?? 'null' };
  if (entry.state === 'recorded' || call.kind !== 'write' || call.idempotent) {
    return { kind: 'live', resume: true };
  }
  return {
    kind: 'fail',
    code: 'effect_interrupted',
    message: `call ${call.seq} (${call.op}) was sent and its outcome never recorded; it is not marked idempotent, so it is not sent again`,
  };
}

function divergence(entry: EffectEntry, call: EffectCall): string {
  return `call ${call.seq} diverged on replay: recorded ${entry.op} ${short(entry.requestHash)}, now ${call.op} ${short(call.requestHash)}`;
}

const short = (hash: string) => `sha256:${hash.slice(0, 16)}`;

/**
 * When the module returns: a journal longer than the calls it made means this run took another
 * path than the one recorded (a missing call is a divergence too).
 */
export function decideEnd(
  journal: readonly EffectEntry[],
  callsMade: number,
): { code: 'nondeterministic'; message: string } | undefined {
  const extra = journal.find((e) => e.seq >= callsMade);
  if (extra === undefined) return undefined;
  return {
    code: 'nondeterministic',
    message: `the run ended after ${callsMade} calls; the journal recorded call ${extra.seq} (${extra.op} ${short(extra.requestHash)})`,
  };
}

export type RecordDecision =
  | { kind: 'insert' }
  /** The same call is there, not completed: a worker resuming it. */
  | { kind: 'keep'; entry: EffectEntry }
  | { kind: 'refuse'; message: string };

/**
 * The store's rule for recording call `call` on a journal whose entry at that seq is `entry`
 * and whose length is `length`: appends only at the end, never rewrites a completed entry, and
 * never replaces one call with another.
 */
export function decideRecord(
  entry: EffectEntry | undefined,
  length: number,
  call: Pick<EffectCall, 'seq' | 'op' | 'requestHash'>,
  limits: JournalLimits = defaultJournalLimits,
): RecordDecision {
  if (entry === undefined) {
    if (call.seq !== length) {
      return {
        kind: 'refuse',
        message: `call ${call.seq} is not next: the journal has ${length} entries`,
      };
    }
    if (call.seq >= limits.maxEntries) {
      return { kind: 'refuse', message: `the journal is full (${limits.maxEntries} entries)` };
    }
    return { kind: 'insert' };
  }
  if (entry.op !== call.op || entry.requestHash !== call.requestHash) {
    return { kind: 'refuse', message: `call ${call.seq} is recorded as another call` };
  }
  if (entry.state === 'completed') {
    return { kind: 'refuse', message: `call ${call.seq} is already completed` };
  }
  return { kind: 'keep', entry };
}

/** `Idempotency-Key` of an http_fetch the module marked idempotent. */
export function idempotencyKey(jobId: string, seq: number): string {
  return `${jobId}:${seq}`;
}

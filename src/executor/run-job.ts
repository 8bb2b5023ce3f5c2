import { createHash } from 'node:crypto';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import {
  decideCall,
  decideEnd,
  defaultJournalLimits,
  effectKind,
  opOfCode,
  storePerforms,
  type EffectEntry,
  type JournalLimits,
} from '../core/jobs/effect-journal.ts';
import { checkJobModule, MAX_MODULE_BYTES } from '../core/jobs/module-check.ts';
import {
  LeaseLostError,
  type HeldJob,
  type JobEnd,
  type JobLink,
  type JournalEntry,
} from '../ports/job-link.ts';
import { performEffect } from './effects.ts';
import type { FaultPoint } from './faults.ts';
import { jobClock, type JobClock } from './job-clock.ts';
import {
  E_UNKNOWN_OP,
  type CallAnswer,
  type CallRequest,
  type ThreadEnd,
} from './thread-protocol.ts';
import { startWasmThread } from './wasm-thread-start.ts';

export interface RunOptions {
  maxMemoryMib: number;
  /** The attempt's clock (job-clock.ts); by default the claim's startedAt plus elapsed time. */
  clock?: JobClock;
  limits?: JournalLimits;
  fault: (point: FaultPoint, seq: number) => void;
  heartbeatMs: number;
  /**
   * Set: a success is not completed here but handed to this, for the worker's next claim to
   * carry (JobLink.completeAndClaim: one round trip for both). Failures complete at once.
   */
  deferSuccess?: (result: string) => void;
}

/** How a run ended for this worker. `lost`: it stopped writing; someone else owns the job. */
export type RunResult = 'succeeded' | 'failed' | 'parked' | 'lost';

class Parked extends Error {}
class Failed extends Error {
  constructor(readonly end: Extract<JobEnd, { outcome: 'failed' }>) {
    super(end.message);
  }
}

/**
 * Runs one held job to its end: replays its journal, goes live after the last completed call,
 * journals every effect before and after performing it, heartbeats, and completes the job
 * (or parks it for a sleep). Any answer that the lease is gone stops it without another write.
 */
export async function runJob(link: JobLink, job: HeldJob, given: RunOptions): Promise<RunResult> {
  const options = { ...given, clock: given.clock ?? jobClock(job.startedAt) };
  // A heartbeat refused means the lease is gone: stop the module at once, not at its next call.
  let loseLease: (error: LeaseLostError) => void = () => undefined;
  const lost = new Promise<never>((_, reject) => {
    loseLease = reject;
  });
  lost.catch(() => undefined);
  const beat = setInterval(() => {
    link.heartbeat(job).catch((error: unknown) => {
      if (error instanceof LeaseLostError) loseLease(error);
    });
  }, options.heartbeatMs);
  try {
    const end = await attempt(link, job, options, lost);
    if (end === 'parked') return 'parked';
    if (end.outcome === 'succeeded' && options.deferSuccess !== undefined) {
      options.deferSuccess(end.result);
      return end.outcome;
    }
    await link.complete(job, end);
    return end.outcome;
  } catch (error) {
    if (error instanceof LeaseLostError) return 'lost';
    throw error;
  } finally {
    clearInterval(beat);
  }
}

async function attempt(
  link: JobLink,
  job: HeldJob,
  options: RunOptions & { clock: JobClock },
  lost: Promise<never>,
): Promise<JobEnd | 'parked'> {
  const [wasm, journal] = await Promise.all([link.module(job), link.journal(job)]);
  let memory;
  try {
    memory = checkJobModule(wasm, {
      maxMemoryMib: options.maxMemoryMib,
      maxModuleBytes: MAX_MODULE_BYTES,
    }).memory;
  } catch (error) {
    return failed('bad_module', String(error instanceof Error ? error.message : error), false);
  }
  const channel = new MessageChannel();
  const thread = startWasmThread({ wasm, input: job.input, memory, port: channel.port2 });
  const calls = new CallHandler(link, job, journal, options, channel.port1, thread.flag);
  const { clock } = options;
  const deadline = deadlineMs(job, clock);
  const timer = setTimeout(() => void thread.terminate(), Math.max(0, deadline - clock.now()));
  try {
    const end = await Promise.race([thread.ended, calls.stopped, lost]);
    if (end === 'timeout' || clock.now() >= deadline) {
      return failed('timeout', `the attempt ran past its ${job.timeoutSecs} s deadline`, true);
    }
    return finish(end, journal, calls.count);
  } catch (error) {
    if (error instanceof Parked) return 'parked';
    if (error instanceof Failed) return error.end;
    throw error;
  } finally {
    clearTimeout(timer);
    channel.port1.close();
    await thread.terminate();
  }
}

function finish(end: ThreadEnd, journal: JournalEntry[], calls: number): JobEnd {
  if (end.type === 'stopped') throw new Error('the wasm thread stopped without a reason');
  if (end.type === 'trap') return failed('trap', end.message, false);
  const diverged = decideEnd(journal as EffectEntry[], calls);
  if (diverged !== undefined) return failed(diverged.code, diverged.message, false);
  if (end.status !== 0) return failed('exit_status', `run returned ${end.status}`, true);
  try {
    JSON.parse(end.output);
  } catch {
    return failed('bad_output', 'the output is not JSON text', false);
  }
  return { outcome: 'succeeded', result: end.output };
}

function failed(code: string, message: string, retryable: boolean) {
  return { outcome: 'failed' as const, code, message: message.slice(0, 4000), retryable };
}

function deadlineMs(job: HeldJob, clock: JobClock): number {
  const start = job.startedAt === null ? clock.now() : Date.parse(job.startedAt);
  return start + job.timeoutSecs * 1000;
}

/**
 * Answers the wasm thread's calls one at a time (it blocks on each). `stopped` rejects with
 * Parked, Failed or LeaseLostError when the job must end here; the thread is told to unwind.
 */
class CallHandler {
  count = 0;
  readonly stopped: Promise<never>;
  private stop!: (error: Error) => void;
  private readonly byseq = new Map<number, JournalEntry>();

  constructor(
    private readonly link: JobLink,
    private readonly job: HeldJob,
    journal: JournalEntry[],
    private readonly options: RunOptions & { clock: JobClock },
    private readonly port: MessagePort,
    private readonly flag: Int32Array,
  ) {
    for (const entry of journal) this.byseq.set(entry.seq, entry);
    this.stopped = new Promise<never>((_, reject) => {
      this.stop = reject;
    });
    this.stopped.catch(() => undefined);
    port.on('message', (message: CallRequest) => {
      this.handle(message).then(
        (answer) => this.answer(answer),
        (error: unknown) => {
          this.answer({ stop: true });
          this.stop(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  private answer(answer: CallAnswer): void {
    this.port.postMessage(answer);
    Atomics.store(this.flag, 0, 1);
    Atomics.notify(this.flag, 0);
  }

  private async handle({ op: code, request: bytes }: CallRequest): Promise<CallAnswer> {
    const op = opOfCode(code);
    if (op === undefined) return { status: E_UNKNOWN_OP };
    const seq = this.count;
    this.count += 1;
    const request = Buffer.from(bytes).toString('utf8');
    const parsed = parseJson(request);
    const idempotent = op === 'http_fetch' && field(parsed, 'idempotent') === true;
    const method = op === 'http_fetch' ? String(field(parsed, 'method') ?? 'GET') : undefined;
    const requestHash = createHash('sha256').update(bytes).digest('hex');
    const call = { seq, op, requestHash, kind: effectKind(op, method), idempotent };
    const entry = this.byseq.get(seq);
    const decision = decideCall(
      entry && { ...entry, jobId: this.job.id },
      call,
      this.options.limits ?? defaultJournalLimits,
    );
    if (decision.kind === 'fail') throw new Failed(failed(decision.code, decision.message, false));
    if (decision.kind === 'answer') return this.answered(op, decision.response);
    const fault = this.options.fault;
    fault('before_record', seq);
    if (!decision.resume) {
      await this.link.record(this.job, { seq, op, requestHash, request, idempotent });
    }
    fault('after_record', seq);
    if (call.kind === 'write') await this.link.markSent(this.job, seq);
    const response = storePerforms(op)
      ? undefined
      : await performEffect(op, parsed, {
          jobId: this.job.id,
          seq,
          nowMs: this.options.clock.now(),
        });
    fault('after_response', seq);
    const done = await this.link.completeEffect(this.job, seq, response);
    fault('after_complete', seq);
    return this.answered(op, done.response ?? 'null');
  }

  /**
   * A completed sleep parks the job until it ends; afterwards it answers like any call. Both
   * by the attempt's clock: a job claimed again once its `run_at` came is past its sleep,
   * whatever this host's wall clock says (job-clock.ts).
   */
  private async answered(op: string, response: string): Promise<CallAnswer> {
    if (op === 'sleep') {
      const wakeAt = String(field(parseJson(response), 'wakeAt') ?? '');
      if (Date.parse(wakeAt) > this.options.clock.now()) {
        await this.link.park(this.job, wakeAt);
        throw new Parked();
      }
    }
    return { response };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

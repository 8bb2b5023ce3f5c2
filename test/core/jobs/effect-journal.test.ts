import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decideCall,
  decideEnd,
  decideRecord,
  effectKind,
  type EffectCall,
  type EffectEntry,
  type EffectKind,
  type EffectOp,
  type EffectState,
} from '../../../src/core/jobs/effect-journal.ts';

const opArb = fc.constantFrom<EffectOp>(
  'http_fetch',
  'kv_get',
  'kv_set',
  'log',
  'now',
  'random',
  'sleep',
);
const hashArb = fc.stringMatching(/^[0-9a-f]{64}$/);

function entry(seq: number, op: EffectOp, hash: string, state: EffectState): EffectEntry {
  return {
    jobId: 'j-1',
    seq,
    op,
    requestHash: hash,
    request: '{}',
    state,
    idempotent: false,
    response: state === 'completed' ? `{"seq":${seq}}` : null,
    attempt: 1,
    recordedAt: '2026-01-01T00:00:00.000Z',
    completedAt: null,
  };
}

describe('replay rules', () => {
  it('answers a completed call from the journal and never performs it again', () => {
    fc.assert(
      fc.property(opArb, hashArb, fc.nat(100), fc.boolean(), (op, hash, seq, idem) => {
        const call = { seq, op, requestHash: hash, kind: effectKind(op, 'POST'), idempotent: idem };
        expect(decideCall(entry(seq, op, hash, 'completed'), call)).toEqual({
          kind: 'answer',
          response: `{"seq":${seq}}`,
        });
      }),
    );
  });

  it('fails nondeterministic at the seq, naming both calls, whenever op or hash differs', () => {
    fc.assert(
      fc.property(
        opArb,
        hashArb,
        opArb,
        hashArb,
        fc.constantFrom<EffectState>('recorded', 'sent', 'completed'),
        fc.nat(100),
        (op1, h1, op2, h2, state, seq) => {
          fc.pre(op1 !== op2 || h1 !== h2);
          const call = {
            seq,
            op: op2,
            requestHash: h2,
            kind: 'internal' as const,
            idempotent: true,
          };
          const decision = decideCall(entry(seq, op1, h1, state), call);
          expect(decision.kind).toBe('fail');
          if (decision.kind !== 'fail') return;
          expect(decision.code).toBe('nondeterministic');
          expect(decision.message).toContain(`call ${seq}`);
          expect(decision.message).toContain(`${op1} sha256:${h1.slice(0, 16)}`);
          expect(decision.message).toContain(`${op2} sha256:${h2.slice(0, 16)}`);
        },
      ),
    );
  });

  it('an in-doubt call runs again unless it is a write not marked idempotent', () => {
    const hash = 'a'.repeat(64);
    const cases: Array<[EffectKind, boolean, string]> = [
      ['internal', false, 'live'],
      ['read', false, 'live'],
      ['write', true, 'live'],
      ['write', false, 'fail'],
    ];
    for (const [kind, idempotent, expected] of cases) {
      const call: EffectCall = { seq: 3, op: 'http_fetch', requestHash: hash, kind, idempotent };
      const decision = decideCall(entry(3, 'http_fetch', hash, 'sent'), call);
      expect(decision.kind).toBe(expected);
      if (decision.kind === 'fail') expect(decision.code).toBe('effect_interrupted');
      // Recorded but never sent: nothing reached the peer, so even a plain write runs.
      expect(decideCall(entry(3, 'http_fetch', hash, 'recorded'), call)).toEqual({
        kind: 'live',
        resume: true,
      });
    }
  });

  it('goes live past the end of the journal, up to its size limit', () => {
    const call = (seq: number): EffectCall => ({
      seq,
      op: 'now',
      requestHash: 'b'.repeat(64),
      kind: 'internal',
      idempotent: false,
    });
    expect(decideCall(undefined, call(4), { maxEntries: 5 })).toEqual({
      kind: 'live',
      resume: false,
    });
    expect(decideCall(undefined, call(5), { maxEntries: 5 })).toMatchObject({
      kind: 'fail',
      code: 'journal_limit',
    });
  });

  it('a run that ends before the journal does diverged', () => {
    const journal = [entry(0, 'now', 'c'.repeat(64), 'completed')];
    expect(decideEnd(journal, 1)).toBeUndefined();
    expect(decideEnd(journal, 0)?.code).toBe('nondeterministic');
  });

  it('the store appends only at the end and never rewrites a completed or different call', () => {
    const h = 'd'.repeat(64);
    expect(decideRecord(undefined, 2, { seq: 2, op: 'now', requestHash: h })).toEqual({
      kind: 'insert',
    });
    expect(decideRecord(undefined, 2, { seq: 3, op: 'now', requestHash: h }).kind).toBe('refuse');
    const sent = entry(1, 'now', h, 'sent');
    expect(decideRecord(sent, 2, { seq: 1, op: 'now', requestHash: h })).toEqual({
      kind: 'keep',
      entry: sent,
    });
    expect(decideRecord(sent, 2, { seq: 1, op: 'log', requestHash: h }).kind).toBe('refuse');
    const done = entry(1, 'now', h, 'completed');
    expect(decideRecord(done, 2, { seq: 1, op: 'now', requestHash: h }).kind).toBe('refuse');
  });
});

/**
 * A model of the executor's protocol per call: record, mark sent (writes only), perform,
 * complete. A crash may strike between any two steps; the next attempt replays with the same
 * program. The journal and the outside world are counted to check the contract.
 */
describe('replay under crashes (model)', () => {
  interface Step {
    kind: EffectKind;
    idempotent: boolean;
  }
  const stepArb = fc.record({
    kind: fc.constantFrom<EffectKind>('internal', 'read', 'write'),
    idempotent: fc.boolean(),
  });

  function run(program: Step[], crashes: number[]) {
    const journal: EffectEntry[] = [];
    const performed = program.map(() => 0);
    const applied = program.map(() => 0);
    let steps = 0;
    for (let attempt = 0; attempt <= crashes.length; attempt += 1) {
      const crashAt = crashes[attempt] ?? Infinity;
      const crash = () => ++steps > crashAt;
      let crashed = false;
      for (let seq = 0; seq < program.length && !crashed; seq += 1) {
        const step = program[seq] as Step;
        const call: EffectCall = { seq, op: 'http_fetch', requestHash: String(seq), ...step };
        const decision = decideCall(journal[seq], call);
        if (decision.kind === 'fail') return { outcome: decision.code, performed, applied, seq };
        if (decision.kind === 'answer') continue;
        if (crash()) break;
        if (!decision.resume) journal.push(entry(seq, 'http_fetch', String(seq), 'recorded'));
        if (crash()) break;
        const current = journal[seq] as EffectEntry;
        if (step.kind === 'write') current.state = 'sent';
        if (crash()) break;
        if (step.kind !== 'internal') performed[seq] = (performed[seq] ?? 0) + 1;
        if (crash()) {
          crashed = true;
          break;
        }
        // Completing and applying an internal effect are one transaction.
        current.state = 'completed';
        current.response = '{}';
        if (step.kind === 'internal') applied[seq] = (applied[seq] ?? 0) + 1;
      }
      if (!crashed && journal.length === program.length) {
        if (journal.every((e) => e.state === 'completed')) {
          return { outcome: 'succeeded', performed, applied, seq: -1 };
        }
      }
    }
    return { outcome: 'incomplete', performed, applied, seq: -1 };
  }

  it('internal effects apply once, plain writes are never sent twice, finished jobs are complete', () => {
    fc.assert(
      fc.property(
        fc.array(stepArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(40), { maxLength: 6 }),
        (program, crashes) => {
          const result = run(program, crashes);
          program.forEach((step, seq) => {
            if (step.kind === 'internal') expect(result.applied[seq]).toBeLessThanOrEqual(1);
            if (step.kind === 'write' && !step.idempotent) {
              expect(result.performed[seq]).toBeLessThanOrEqual(1);
            }
          });
          if (result.outcome === 'succeeded') {
            program.forEach((step, seq) => {
              if (step.kind === 'internal') expect(result.applied[seq]).toBe(1);
              else expect(result.performed[seq]).toBeGreaterThanOrEqual(1);
            });
          }
          if (result.outcome === 'effect_interrupted') {
            const step = program[result.seq] as Step;
            expect(step.kind === 'write' && !step.idempotent).toBe(true);
            expect(result.performed[result.seq]).toBeLessThanOrEqual(1);
          }
          expect(['succeeded', 'effect_interrupted', 'incomplete']).toContain(result.outcome);
          if (crashes.length === 0) expect(result.outcome).toBe('succeeded');
        },
      ),
    );
  });
});

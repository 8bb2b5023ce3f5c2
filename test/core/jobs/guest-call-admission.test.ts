import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { admitGuestCall, heldAfter } from '../../../src/core/jobs/guest-call-admission.ts';

const who = { nodeId: 'node-1', instanceId: 'w-1', tenantId: 'acme', poolId: 'ci' };
const jobCalls = [
  'heartbeatJob',
  'completeJob',
  'jobModule',
  'jobJournal',
  'recordEffect',
  'parkJob',
];

describe('guest call admission', () => {
  it('a claim is made as the channel’s own instance, whatever the guest left out', () => {
    const admitted = admitGuestCall({ call: 'claimJobs', body: { limit: 1 } }, who, new Set());
    expect(admitted).toEqual({
      ok: true,
      params: { node: 'node-1' },
      body: { limit: 1, tenant: 'acme', pool: 'ci', worker: 'w-1' },
    });
  });

  it('a claim naming another instance, pool or tenant is refused', () => {
    for (const [field, value] of [
      ['worker', 'w-2'],
      ['pool', 'other'],
      ['tenant', 'globex'],
    ] as const) {
      const answer = admitGuestCall(
        { call: 'claimJobs', body: { [field]: value } },
        who,
        new Set(),
      );
      expect(answer).toMatchObject({ ok: false, status: 403 });
    }
  });

  it('a claim completes only jobs this instance holds, and drops them once answered', () => {
    const held = new Set(['j-1', 'j-2']);
    const completed = [{ job: 'j-1', token: 't', result: '{}' }];
    const ok = admitGuestCall({ call: 'claimJobs', body: { limit: 1, completed } }, who, held);
    expect(ok).toMatchObject({ ok: true, body: { completed } });
    const foreign = [...completed, { job: 'j-9', token: 't', result: '{}' }];
    expect(
      admitGuestCall({ call: 'claimJobs', body: { completed: foreign } }, who, held),
    ).toMatchObject({ ok: false, status: 403 });
    // Succeeded or lost, a completed job is no longer this worker's; the claimed one is.
    const input = { call: 'claimJobs', body: { completed } };
    expect(heldAfter(held, input, { ok: true, claimed: ['j-3'] })).toEqual(new Set(['j-2', 'j-3']));
    // A refused claim changes nothing held.
    expect(heldAfter(held, input, { ok: false, leaseLost: false })).toEqual(held);
  });

  it('job calls reach only jobs this instance holds; other routes never', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          ...jobCalls,
          'markEffectSent',
          'completeEffect',
          'nodeSecrets',
          'deleteTenant',
        ),
        fc.constantFrom('j-1', 'j-2'),
        fc.boolean(),
        (call, job, holds) => {
          const held = new Set(holds ? [job] : []);
          const answer = admitGuestCall({ call, job, seq: 3, body: { token: 't' } }, who, held);
          const known =
            jobCalls.includes(call) || call.startsWith('mark') || call === 'completeEffect';
          expect(answer.ok).toBe(known && holds);
          if (answer.ok) expect(answer.params).toMatchObject({ node: 'node-1', job });
        },
      ),
    );
  });

  it('an effect call needs its seq', () => {
    const held = new Set(['j-1']);
    expect(
      admitGuestCall({ call: 'markEffectSent', job: 'j-1', body: {} }, who, held),
    ).toMatchObject({ ok: false, status: 400 });
    expect(
      admitGuestCall({ call: 'completeEffect', job: 'j-1', seq: 2, body: {} }, who, held),
    ).toMatchObject({ ok: true, params: { node: 'node-1', job: 'j-1', seq: 2 } });
  });

  it('claims add jobs; completion, parking and a lost lease drop them', () => {
    let held = heldAfter(
      new Set(),
      { call: 'claimJobs', body: {} },
      { ok: true, claimed: ['a', 'b'] },
    );
    expect([...held]).toEqual(['a', 'b']);
    held = heldAfter(held, { call: 'heartbeatJob', job: 'a', body: {} }, { ok: true, claimed: [] });
    expect([...held]).toEqual(['a', 'b']);
    held = heldAfter(held, { call: 'completeJob', job: 'a', body: {} }, { ok: true, claimed: [] });
    expect([...held]).toEqual(['b']);
    held = heldAfter(
      held,
      { call: 'recordEffect', job: 'b', body: {} },
      { ok: false, leaseLost: true },
    );
    expect([...held]).toEqual([]);
  });
});

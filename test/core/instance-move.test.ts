import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  advanceMove,
  desiredAfterMove,
  isTerminal,
  MAX_MOVE_ATTEMPTS,
  moveRefusal,
  newMove,
  nextTransfer,
  ownerOf,
  raiseDuringMove,
  type BundlePart,
  type MoveCandidate,
  type MoveEvent,
  type MoveState,
} from '../../src/core/instance-move.ts';

const parts: BundlePart[] = [
  { name: 'snapshot', bytes: 1000, sha256: 'a'.repeat(64) },
  { name: 'data', bytes: 400, sha256: 'b'.repeat(64) },
];

const run = (events: MoveEvent[], from: MoveState = newMove('node-a', 'node-b', false)) =>
  events.reduce(advanceMove, from);

describe('a move, step by step', () => {
  it('goes requested → exporting → transferring → importing → done, owned by the source until done', () => {
    const steps: string[] = [];
    const owners: string[] = [];
    let move = newMove('node-a', 'node-b', true);
    const events: MoveEvent[] = [
      { kind: 'start' },
      { kind: 'exported', parts },
      { kind: 'received', part: 'snapshot', bytes: 600 },
      { kind: 'received', part: 'snapshot', bytes: 1000 },
      { kind: 'received', part: 'data', bytes: 400 },
      { kind: 'imported' },
    ];
    for (const e of events) {
      move = advanceMove(move, e);
      steps.push(move.step);
      owners.push(ownerOf(move));
    }
    expect(steps).toEqual([
      'exporting',
      'transferring',
      'transferring',
      'transferring',
      'importing',
      'done',
    ]);
    expect(owners).toEqual(['node-a', 'node-a', 'node-a', 'node-a', 'node-a', 'node-b']);
    expect(move.wake).toBe(true);
  });

  it('resumes a transfer at the bytes the target holds, and a refused part from its start', () => {
    let move = run([
      { kind: 'start' },
      { kind: 'exported', parts },
      { kind: 'received', part: 'snapshot', bytes: 600 },
    ]);
    expect(nextTransfer(move)).toEqual({ part: 'snapshot', offset: 600 });
    move = advanceMove(move, { kind: 'crashed', side: 'target', reason: 'killed' });
    expect(move.step).toBe('transferring');
    expect(nextTransfer(move)).toEqual({ part: 'snapshot', offset: 600 });
    move = advanceMove(move, { kind: 'part-refused', part: 'snapshot', reason: 'sha256 differs' });
    expect(nextTransfer(move)).toEqual({ part: 'snapshot', offset: 0 });
    move = run(
      [
        { kind: 'received', part: 'snapshot', bytes: 1000 },
        { kind: 'received', part: 'data', bytes: 100 },
      ],
      move,
    );
    expect(nextTransfer(move)).toEqual({ part: 'data', offset: 100 });
  });

  it('fails after too many attempts and leaves the instance with its source', () => {
    let move = run([{ kind: 'start' }]);
    for (let i = 0; i < MAX_MOVE_ATTEMPTS; i += 1) {
      move = advanceMove(move, { kind: 'crashed', side: 'source', reason: `crash ${i}` });
    }
    expect(move.step).toBe('failed');
    expect(move.reason).toContain(`exporting failed ${MAX_MOVE_ATTEMPTS} times`);
    expect(ownerOf(move)).toBe('node-a');
    expect(advanceMove(move, { kind: 'imported' })).toBe(move);
  });

  it('refuses a report of more bytes than a part has, and an export without parts', () => {
    const transferring = run([{ kind: 'start' }, { kind: 'exported', parts }]);
    const over = advanceMove(transferring, { kind: 'received', part: 'data', bytes: 401 });
    expect(over.received).toEqual({});
    expect(over.attempts).toBe(2);
    expect(run([{ kind: 'start' }, { kind: 'exported', parts: [] }]).step).toBe('failed');
  });
});

const eventArb: fc.Arbitrary<MoveEvent> = fc.oneof(
  fc.constant<MoveEvent>({ kind: 'start' }),
  fc.constant<MoveEvent>({ kind: 'exported', parts }),
  fc.record({
    kind: fc.constant('received' as const),
    part: fc.constantFrom('snapshot', 'data', 'other'),
    bytes: fc.integer({ min: -5, max: 1200 }),
  }),
  fc.record({
    kind: fc.constant('part-refused' as const),
    part: fc.constantFrom('snapshot', 'data'),
    reason: fc.constant('hash'),
  }),
  fc.constant<MoveEvent>({ kind: 'imported' }),
  fc.record({
    kind: fc.constant('crashed' as const),
    side: fc.constantFrom('source' as const, 'target' as const),
    reason: fc.constant('kill -9'),
  }),
);

describe('a move, properties', () => {
  it('never has two owners, reaches done only with every part whole, and never leaves a terminal step', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 60 }), (events) => {
        let move = newMove('node-a', 'node-b', false);
        for (const e of events) {
          const before = move;
          move = advanceMove(move, e);
          if (isTerminal(before.step)) expect(move).toBe(before);
          expect([move.sourceNode, move.targetNode]).toContain(ownerOf(move));
          expect(move.attempts).toBeLessThanOrEqual(MAX_MOVE_ATTEMPTS);
          for (const p of move.parts ?? []) {
            expect(move.received[p.name] ?? 0).toBeLessThanOrEqual(p.bytes);
            expect(move.received[p.name] ?? 0).toBeGreaterThanOrEqual(0);
          }
          if (move.step === 'importing' || move.step === 'done') {
            expect(nextTransfer(move)).toBeUndefined();
          }
          if (move.step === 'done') expect(before.step).toBe('importing');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('given enough retries, crashes of either side at any step still end done', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: MAX_MOVE_ATTEMPTS - 1 }),
        (crashAt) => {
          // One crash at each chosen point of the happy path, each step crashing less often
          // than its attempt budget.
          const happy: MoveEvent[] = [
            { kind: 'start' },
            { kind: 'exported', parts },
            { kind: 'received', part: 'snapshot', bytes: 1000 },
            { kind: 'received', part: 'data', bytes: 400 },
            { kind: 'imported' },
          ];
          const events: MoveEvent[] = [];
          happy.forEach((e, i) => {
            const crashes = crashAt.filter((c) => c === i + 1).length;
            for (let k = 0; k < crashes; k += 1) {
              events.push({
                kind: 'crashed',
                side: k % 2 === 0 ? 'source' : 'target',
                reason: 'x',
              });
            }
            events.push(e);
          });
          expect(run(events).step).toBe('done');
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('which instances may move', () => {
  const ok: MoveCandidate = {
    instance: { status: 'sleeping', desiredStatus: 'sleeping', nodeId: 'node-a' },
    pool: { pinned: false, vcpus: 2, memMib: 512 },
    target: { id: 'node-b', status: 'ready' },
    targetFree: { vcpus: 2, memMib: 512 },
    wake: true,
    moveInProgress: false,
  };

  it('lets a sleeping or stopped instance of a movable pool go to a ready node with room', () => {
    expect(moveRefusal(ok)).toBeUndefined();
    const stopped = { status: 'stopped' as const, desiredStatus: 'stopped' as const, nodeId: 'a' };
    expect(moveRefusal({ ...ok, instance: stopped })).toBeUndefined();
    expect(
      moveRefusal({ ...ok, wake: false, targetFree: { vcpus: 0, memMib: 0 } }),
    ).toBeUndefined();
  });

  it.each<[string, Partial<MoveCandidate>, string]>([
    ['pinned', { pool: { ...ok.pool, pinned: true } }, 'pinned'],
    [
      'running',
      { instance: { status: 'running', desiredStatus: 'running', nodeId: 'node-a' } },
      'sleep it first',
    ],
    [
      'being woken',
      { instance: { status: 'sleeping', desiredStatus: 'running', nodeId: 'node-a' } },
      'sleep it first',
    ],
    ['moving', { moveInProgress: true }, 'already under way'],
    ['no target', { target: undefined }, 'does not exist'],
    ['same node', { target: { id: 'node-a', status: 'ready' } }, 'the node it is on'],
    ['cordoned', { target: { id: 'node-b', status: 'cordoned' } }, 'is cordoned'],
    ['lost', { target: { id: 'node-b', status: 'lost' } }, 'is lost'],
    ['no room', { targetFree: { vcpus: 1, memMib: 4096 } }, 'no room to wake it'],
  ])('refuses %s', (_name, change, message) => {
    expect(moveRefusal({ ...ok, ...change })).toContain(message);
  });
});

describe('what a move brings the instance back to', () => {
  it('restores running or warm when it wakes, keeps the desired status otherwise', () => {
    expect(newMove('a', 'b', true)).toMatchObject({ wake: true, restore: 'running' });
    expect(newMove('a', 'b', true, 'warm')).toMatchObject({ wake: true, restore: 'warm' });
    expect(newMove('a', 'b', false, 'warm')).toMatchObject({ wake: false, restore: null });
    expect(desiredAfterMove({ wake: true, restore: 'warm' }, 'sleeping')).toBe('warm');
    expect(desiredAfterMove({ wake: true, restore: null }, 'sleeping')).toBe('running');
    expect(desiredAfterMove({ wake: false, restore: null }, 'sleeping')).toBe('sleeping');
    expect(desiredAfterMove({ wake: false, restore: null }, 'stopped')).toBe('stopped');
  });

  it('holds back a wake or a warm while the move is under way, not a stop or a destroy', () => {
    const moving = { step: 'transferring' as const, targetNode: 'node-b' };
    expect(raiseDuringMove('running', moving)).toContain('node node-b is under way (transferring)');
    expect(raiseDuringMove('warm', moving)).toBeDefined();
    expect(raiseDuringMove('stopped', moving)).toBeUndefined();
    expect(raiseDuringMove('destroyed', moving)).toBeUndefined();
    expect(raiseDuringMove('running', { ...moving, step: 'failed' })).toBeUndefined();
    expect(raiseDuringMove('running', undefined)).toBeUndefined();
  });
});

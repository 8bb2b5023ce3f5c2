import { describe, expect, it } from 'vitest';
import { decideWatch, fenceTargets, WATCH_EVERY_MS } from '../../src/core/fence-watch.ts';

const agent = { pid: 4242, startTime: 777 };
const lease = (expiresAt: number, who = agent) => ({ agent: who, expiresAt });

describe('the fence watchdog decides', () => {
  it('only looks while its agent lives, however old the lease', () => {
    expect(
      decideWatch({ now: 10_000, watching: agent, lease: lease(1), agentAlive: true }),
    ).toEqual({ kind: 'wait', ms: WATCH_EVERY_MS });
  });

  it('waits out the lease of a dead agent, then fences', () => {
    const dead = { watching: agent, agentAlive: false };
    expect(decideWatch({ ...dead, now: 1_000, lease: lease(1_300) })).toEqual({
      kind: 'wait',
      ms: 300,
    });
    expect(decideWatch({ ...dead, now: 1_000, lease: lease(60_000) })).toEqual({
      kind: 'wait',
      ms: WATCH_EVERY_MS,
    });
    expect(decideWatch({ ...dead, now: 1_300, lease: lease(1_300) })).toEqual({ kind: 'fence' });
  });

  it('ends when another agent took the data dir over, even a dead one', () => {
    for (const other of [
      { pid: 4243, startTime: 777 },
      { pid: 4242, startTime: 778 }, // the same pid, reused by another process
    ]) {
      const decision = decideWatch({
        now: 5_000,
        watching: agent,
        lease: lease(1, other),
        agentAlive: false,
      });
      expect(decision.kind).toBe('exit');
    }
  });

  it('ends when its agent died without a lease file, and waits while it lives', () => {
    expect(decideWatch({ now: 1, watching: agent, lease: undefined, agentAlive: false }).kind).toBe(
      'exit',
    );
    expect(decideWatch({ now: 1, watching: agent, lease: undefined, agentAlive: true }).kind).toBe(
      'wait',
    );
  });

  it('pauses running VMMs of re-placeable or unknown pools, never pinned, warm or asleep', () => {
    const base = { hasVmm: true, status: 'running' as const, replaceable: true };
    expect(
      fenceTargets([
        { ...base, label: 't/web/b' },
        { ...base, label: 't/web/a' },
        { ...base, label: 't/db/a', replaceable: false },
        { ...base, label: 't/gone/a', replaceable: undefined },
        { ...base, label: 't/web/warm', status: 'warm' },
        { ...base, label: 't/web/asleep', status: 'sleeping', hasVmm: false },
        { ...base, label: 't/web/novmm', hasVmm: false },
      ]),
    ).toEqual(['t/gone/a', 't/web/a', 't/web/b']);
  });
});

import { describe, expect, it } from 'vitest';
import { instanceFields } from '../../src/cli/views/instance-views.ts';
import { instance } from '../db/fixtures.ts';

describe('instance info under the idle policy', () => {
  it('says when the idle policy holds an instance below its place, and which place', () => {
    const lowered = { ...instance('w-1', 10, { desiredStatus: 'warm', idleSlot: 'running' }) };
    const fields = instanceFields(lowered);
    expect(fields.kind === 'fields' && fields.fields).toContainEqual([
      'desired',
      'warm (idle; holds a running place, a wake brings it back)',
    ]);
    const waiting = instance('w-3', 12, {
      desiredStatus: 'sleeping',
      idleSlot: 'running',
      pressureSleptAt: '2026-03-01T09:00:00.000Z',
    });
    const held = instanceFields(waiting);
    expect(held.kind === 'fields' && held.fields).toContainEqual([
      'desired',
      'sleeping (waiting for room on its node; holds a running place, raised when there is room)',
    ]);
    const plain = instanceFields(instance('w-2', 11, { desiredStatus: 'running' }));
    expect(plain.kind === 'fields' && plain.fields).toContainEqual(['desired', 'running']);
  });
});

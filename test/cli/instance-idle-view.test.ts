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
    const plain = instanceFields(instance('w-2', 11, { desiredStatus: 'running' }));
    expect(plain.kind === 'fields' && plain.fields).toContainEqual(['desired', 'running']);
  });
});

import { describe, expect, it } from 'vitest';
import { InternalError } from '../../src/core/errors.ts';
import { MEMBER_COLUMNS, membersOfText, poolMember } from '../../src/db/repos/pool-members.ts';

/**
 * `membersOfText` reads Postgres' one-text aggregate of a pool's members field by field
 * (pool-members-plan.test.ts checks it against the rows on real Postgres); here, what it
 * answers for each kind of field and how it refuses a text it cannot read.
 */
const SEP = '\x1f';

const rows = [
  {
    id: 'w-1',
    status: 'running',
    desired_status: 'warm',
    node_id: 'node-0001',
    status_since: '2025-01-01T00:00:00.000Z',
    last_active_at: null,
    pressure_slept_at: null,
    idle_slot: 'running',
    version: 12,
  },
  {
    id: 'w-2',
    status: 'created',
    desired_status: 'sleeping',
    node_id: null,
    status_since: null,
    last_active_at: '2025-01-01T00:00:01.000Z',
    pressure_slept_at: '2025-01-01T00:00:02.000Z',
    idle_slot: null,
    version: 1,
  },
];

/** A row as `membersText` writes it: its fields in MEMBER_COLUMNS' order, null empty. */
const fieldsOf = (row: (typeof rows)[number]) =>
  MEMBER_COLUMNS.map((column) => {
    const value = row[column];
    return value === null ? '' : String(value);
  });

const textOf = (fields: string[]) => fields.join(SEP);

describe('membersOfText', () => {
  it('answers each member as poolMember answers its row, words as the model constants', () => {
    const members = membersOfText('t1', 'w', textOf(rows.flatMap(fieldsOf)));
    expect(members).toEqual(rows.map((r) => poolMember('t1', 'w', r)));
    // A word answered is the model's constant, not a copy cut out of the text.
    expect(members[0]?.status).toBe('running');
    expect(members[1]?.idleSlot).toBeNull();
    expect(members[0]?.version).toBe(12);
  });

  it('answers no member for no text', () => {
    expect(membersOfText('t1', 'w', null)).toEqual([]);
  });

  it.each([
    ['a field short', (f: string[]) => f.slice(0, -1), /came back as 17 fields/],
    ['a field over', (f: string[]) => [...f, 'x'], /came back as 19 fields/],
    [
      'a status it does not know',
      (f: string[]) => f.map((v, i) => (i === 1 ? 'flying' : v)),
      /instances\.status 'flying'/,
    ],
    [
      'an idle slot it does not know',
      (f: string[]) => f.map((v, i) => (i === 7 ? 'sleeping' : v)),
      /instances\.idle_slot 'sleeping'/,
    ],
    [
      'a version that is no whole number',
      (f: string[]) => f.map((v, i) => (i === 8 ? '1.5' : v)),
      /without its id or version/,
    ],
    [
      'an empty id',
      (f: string[]) => f.map((v, i) => (i === 9 ? '' : v)),
      /without its id or version/,
    ],
  ])('refuses %s', (_, change, message) => {
    const text = textOf(change(rows.flatMap(fieldsOf)));
    expect(() => membersOfText('t1', 'w', text)).toThrow(InternalError);
    expect(() => membersOfText('t1', 'w', text)).toThrow(message);
  });
});

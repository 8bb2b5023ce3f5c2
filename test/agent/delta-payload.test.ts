import { describe, expect, it } from 'vitest';
import {
  DeltaUnusableError,
  rebuildEnvelope,
  tenantTexts,
} from '../../src/agent/desired/delta-payload.ts';

const head =
  '{"generation":3,"issuedAt":"2026-11-22T00:00:00.000Z","nodeId":"n1","schema":"s","tenants":[';
const a = '{"id":"a","pools":[{"x":"]},{"}]}';
const b = '{"id":"b","pools":[]}';
const c = '{"id":"c","pools":[]}';

describe('a delta made whole against the held payload', () => {
  it('cuts a payload laid out as the coordinator writes it into its tenants, strings and all', () => {
    expect(tenantTexts(`${head}${a},${b}]}`)).toEqual([a, b]);
    expect(tenantTexts(`${head}]}`)).toEqual([]);
    // Any other layout is not cut: the agent then takes whole documents.
    expect(tenantTexts(`${head}${a},${b}] }`)).toBeUndefined();
    expect(tenantTexts(`${head}${a} ,${b}]}`)).toBeUndefined();
    expect(tenantTexts(`{"tenants":[${a}]}`)).toBeUndefined();
  });

  it('rebuilds the payload from indices and texts, and refuses what it cannot rebuild', () => {
    const held = { generation: 2, texts: [a, b] };
    const delta = { delta: { base: 2, head, tenants: [1, c, 0] }, signature: 's', keyId: 'k' };
    const { envelope, texts } = rebuildEnvelope(delta, held);
    expect(envelope).toEqual({ payload: `${head}${b},${c},${a}]}`, signature: 's', keyId: 'k' });
    expect(texts).toEqual([b, c, a]);
    const against = (base: number, tenants: Array<string | number>) =>
      rebuildEnvelope({ ...delta, delta: { base, head, tenants } }, held);
    expect(() => against(1, [0])).toThrow(DeltaUnusableError);
    expect(() => against(2, [2])).toThrow(/index 2 is outside the 2 held/);
    expect(() => rebuildEnvelope(delta, undefined)).toThrow(/holds none/);
  });
});

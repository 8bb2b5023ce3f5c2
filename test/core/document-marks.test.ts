import { describe, expect, it } from 'vitest';
import {
  changedScopes,
  FLEET_SCOPE,
  nodeScope,
  tenantScope,
  watchedSum,
} from '../../src/core/document-marks.ts';

describe('document marks', () => {
  it("sums the fleet's, the node's and each tenant's marks, a scope never bumped as 0", () => {
    const values = new Map([
      [FLEET_SCOPE, 2],
      [nodeScope('n1'), 5],
      [nodeScope('n2'), 100],
      [tenantScope('a'), 7],
      [tenantScope('b'), 11],
      [tenantScope('z'), 1000],
    ]);
    expect(watchedSum(values, 'n1', ['a', 'b', 'c'])).toBe(2 + 5 + 7 + 11);
    expect(watchedSum(values, 'n3', [])).toBe(2);
    expect(watchedSum(new Map(), 'n1', ['a'])).toBe(0);
  });

  it('names a tenant scope as a change bumps it, the same name each time', () => {
    const [bumped] = changedScopes({ tenants: ['acme'] });
    expect(tenantScope('acme')).toBe('tenant:acme');
    expect(bumped).toBe(tenantScope('acme'));
    expect(changedScopes({ fleet: true, nodes: ['n1'] })).toEqual([FLEET_SCOPE, 'node:n1']);
  });
});

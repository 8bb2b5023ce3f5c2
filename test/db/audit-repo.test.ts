import { expect, it } from 'vitest';
import { T0 } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('audit repo', ({ store }) => {
  const event = (tenantId: string | null, action: string) => ({
    tenantId,
    at: T0,
    actor: 'token:admin',
    action,
    target: tenantId ?? 'cluster',
    detail: { nested: { n: 1, list: ['a'] }, ok: true },
  });

  it('appends with growing numeric ids and round-trips the detail', async () => {
    const first = await store().audit.append(event('acme', 'tenant.create'));
    const second = await store().audit.append(event(null, 'node.join'));
    expect(typeof first.id).toBe('number');
    expect(second.id).toBeGreaterThan(first.id);
    expect(second).toEqual({ id: second.id, ...event(null, 'node.join') });
  });

  it('lists newest first, limited, optionally for one tenant', async () => {
    for (const [i, tenantId] of ['acme', 'beta', 'acme', null, 'acme'].entries()) {
      await store().audit.append(event(tenantId, `action-${i}`));
    }
    const actions = (list: Array<{ action: string }>) => list.map((e) => e.action);
    expect(actions(await store().audit.list({ limit: 3 }))).toEqual([
      'action-4',
      'action-3',
      'action-2',
    ]);
    expect(actions(await store().audit.list({ tenantId: 'acme', limit: 10 }))).toEqual([
      'action-4',
      'action-2',
      'action-0',
    ]);
    expect(await store().audit.list({ limit: 0 })).toEqual([]);
  });
});

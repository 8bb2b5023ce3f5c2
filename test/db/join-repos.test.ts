import { expect, it } from 'vitest';
import { AlreadyExistsError } from '../../src/core/errors.ts';
import type { JoinTokenRecord, NodeCertificateRecord } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { T0, T1, T2 } from './fixtures.ts';

function joinToken(id: string, overrides: Partial<JoinTokenRecord> = {}): JoinTokenRecord {
  return {
    id,
    hash: `${id}-hash`.padEnd(64, '0'),
    nodeId: null,
    createdAt: T0,
    expiresAt: T2,
    usedAt: null,
    ...overrides,
  };
}

function cert(serial: string, nodeId = 'node-1'): NodeCertificateRecord {
  return {
    serial,
    nodeId,
    fingerprint: `fp-${serial}`,
    notAfter: T2,
    issuedAt: T0,
    revokedAt: null,
  };
}

await describeEachDatabase('join token repo', ({ store, reopen }) => {
  it('is used once, only before it expires', async () => {
    await store().joinTokens.insert(joinToken('jt-1'));
    await store().joinTokens.insert(joinToken('jt-2', { expiresAt: T1 }));
    expect(await store().joinTokens.findByHash(joinToken('jt-1').hash)).toEqual(joinToken('jt-1'));
    expect(await store().joinTokens.consume('jt-1', 'node-1', T1)).toBe(true);
    expect(await store().joinTokens.consume('jt-1', 'node-1', T1)).toBe(false);
    expect((await store().joinTokens.findByHash(joinToken('jt-1').hash))?.usedAt).toBe(T1);
    // Expiry is exclusive: at its expiry time a token is already gone.
    expect(await store().joinTokens.consume('jt-2', 'node-1', T1)).toBe(false);
    expect(await store().joinTokens.consume('ghost', 'node-1', T0)).toBe(false);
  });

  it('joins only as the node it was issued for', async () => {
    await store().joinTokens.insert(joinToken('jt-1', { nodeId: 'node-a' }));
    expect(await store().joinTokens.consume('jt-1', 'node-b', T1)).toBe(false);
    expect(await store().joinTokens.consume('jt-1', 'node-a', T1)).toBe(true);
  });

  it('lets exactly one of many racing joins use a token', async () => {
    const other = await reopen();
    await store().joinTokens.insert(joinToken('jt-1'));
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        (i % 2 === 0 ? store() : other).joinTokens.consume('jt-1', `node-${i}`, T1),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('refuses a duplicate id', async () => {
    await store().joinTokens.insert(joinToken('jt-1'));
    await expect(
      store().joinTokens.insert(joinToken('jt-1', { hash: 'f'.repeat(64) })),
    ).rejects.toThrow(AlreadyExistsError);
  });
});

await describeEachDatabase('node certificate repo', ({ store }) => {
  it('records certificates and revokes all of a node at once, idempotently', async () => {
    await store().nodeCertificates.insert(cert('AA01'));
    await store().nodeCertificates.insert(cert('AA02'));
    await store().nodeCertificates.insert(cert('BB01', 'node-2'));
    await expect(store().nodeCertificates.insert(cert('AA01'))).rejects.toThrow(AlreadyExistsError);
    expect(await store().nodeCertificates.get('AA01')).toEqual(cert('AA01'));
    expect(await store().nodeCertificates.revokeNode('node-1', T1)).toBe(2);
    expect(await store().nodeCertificates.revokeNode('node-1', T2)).toBe(0);
    const revoked = await store().nodeCertificates.list('node-1');
    expect(revoked.map((c) => [c.serial, c.revokedAt])).toEqual([
      ['AA01', T1],
      ['AA02', T1],
    ]);
    expect((await store().nodeCertificates.get('BB01'))?.revokedAt).toBeNull();
  });

  it('takes part in transactions', async () => {
    const failing = store().transaction(async (repos) => {
      await repos.nodeCertificates.insert(cert('AA01'));
      throw new Error('roll back');
    });
    await expect(failing).rejects.toThrow('roll back');
    expect(await store().nodeCertificates.get('AA01')).toBeUndefined();
  });
});

import { expect, it } from 'vitest';
import { AlreadyExistsError, ConflictError, NotFoundError } from '../../src/core/errors.ts';
import { T0, T1, T2, token } from './fixtures.ts';
import { describeEachDatabase } from '../support/store-harness.ts';

await describeEachDatabase('token repo', ({ store }) => {
  it('finds a token by hash and lists by tenant', async () => {
    const admin = token('tok-a', { tenantId: null });
    await store().tokens.insert(token('tok-b'));
    await store().tokens.insert(admin);
    expect(await store().tokens.findByHash(admin.hash)).toEqual(admin);
    expect(await store().tokens.findByHash('f'.repeat(64))).toBeUndefined();
    expect((await store().tokens.list()).map((t) => t.id)).toEqual(['tok-a', 'tok-b']);
    expect((await store().tokens.list({ tenantId: 'acme' })).map((t) => t.id)).toEqual(['tok-b']);
  });

  it('refuses a duplicate id or hash without echoing the hash', async () => {
    await store().tokens.insert(token('tok-1'));
    await expect(store().tokens.insert(token('tok-1', { hash: 'other' }))).rejects.toThrow(
      AlreadyExistsError,
    );
    const error = await store()
      .tokens.insert(token('tok-2', { hash: token('tok-1').hash }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).not.toContain(token('tok-1').hash);
  });

  it('revokes once, idempotently, and reports a missing token', async () => {
    await store().tokens.insert(token('tok-1'));
    await store().tokens.revoke('tok-1', T1);
    await store().tokens.revoke('tok-1', T2);
    expect((await store().tokens.findByHash(token('tok-1').hash))?.revokedAt).toBe(T1);
    await expect(store().tokens.revoke('ghost', T1)).rejects.toThrow(NotFoundError);
  });
});

await describeEachDatabase('token repo: expiry, last use, lookups', ({ store }) => {
  it('gets by id, keeps the expiry, and filters admin from tenant tokens', async () => {
    const expiring = token('tok-b', { expiresAt: T2 });
    await store().tokens.insert(token('tok-a', { tenantId: null }));
    await store().tokens.insert(expiring);
    expect(await store().tokens.get('tok-b')).toEqual(expiring);
    expect(await store().tokens.get('ghost')).toBeUndefined();
    expect((await store().tokens.list({ admin: true })).map((t) => t.id)).toEqual(['tok-a']);
    expect((await store().tokens.list({ admin: false })).map((t) => t.id)).toEqual(['tok-b']);
  });

  it('records a use only when the last one is older than the cut-off, once per race', async () => {
    await store().tokens.insert(token('tok-1'));
    expect(await store().tokens.touch('tok-1', T1, T0)).toBe(true);
    // T1 is not older than T1: a second request in the same minute writes nothing.
    expect(await store().tokens.touch('tok-1', T1, T1)).toBe(false);
    expect((await store().tokens.get('tok-1'))?.lastUsedAt).toBe(T1);
    const raced = await Promise.all(
      Array.from({ length: 8 }, () => store().tokens.touch('tok-1', T2, T2)),
    );
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect((await store().tokens.get('tok-1'))?.lastUsedAt).toBe(T2);
    expect(await store().tokens.touch('ghost', T2, T2)).toBe(false);
  });
});

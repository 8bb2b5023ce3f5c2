import { expect, it, vi } from 'vitest';
import { openStore } from '../../src/db/open-store.ts';
import { CredentialCache } from '../../src/db/credential-cache.ts';
import type { TokenRecord } from '../../src/ports/store.ts';
import { describeEachDatabase } from '../support/store-harness.ts';
import { T1, node, token } from './fixtures.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

await describeEachDatabase('authentication token lookups (cached)', ({ store, url }) => {
  it('reads a token once within the TTL, and an unknown hash every time', async () => {
    await store().tokens.insert(token('tok-1'));
    const reads = vi.spyOn(store().tokens, 'findByHash');
    for (let i = 0; i < 5; i += 1) {
      expect(await store().authToken(token('tok-1').hash)).toEqual(token('tok-1'));
    }
    expect(reads).toHaveBeenCalledTimes(1);
    expect(await store().authToken('f'.repeat(64))).toBeUndefined();
    expect(await store().authToken('f'.repeat(64))).toBeUndefined();
    expect(reads).toHaveBeenCalledTimes(3);
  });

  it('sees a revocation through the same store at once, outside or inside a transaction', async () => {
    await store().tokens.insert(token('tok-1'));
    await store().tokens.insert(token('tok-2', { hash: 'b'.repeat(64) }));
    expect((await store().authToken(token('tok-1').hash))?.revokedAt).toBeNull();
    expect((await store().authToken('b'.repeat(64)))?.revokedAt).toBeNull();
    await store().tokens.revoke('tok-1', T1);
    expect((await store().authToken(token('tok-1').hash))?.revokedAt).toBe(T1);
    await store().transaction((repos) => repos.tokens.revoke('tok-2', T1));
    expect((await store().authToken('b'.repeat(64)))?.revokedAt).toBe(T1);
  });

  it("sees another replica's revocation within its TTL", async () => {
    await store().tokens.insert(token('tok-1'));
    const replica = await openStore(url(), { tokenCacheMs: 200 });
    try {
      expect((await replica.authToken(token('tok-1').hash))?.revokedAt).toBeNull();
      await store().transaction((repos) => repos.tokens.revoke('tok-1', T1));
      await sleep(250);
      expect((await replica.authToken(token('tok-1').hash))?.revokedAt).toBe(T1);
    } finally {
      await replica.close();
    }
  });

  it('caches node certificates by serial and sees a node revoked at once', async () => {
    await store().nodes.upsert(node('node-a'));
    const cert = {
      serial: 'ab01',
      nodeId: 'node-a',
      fingerprint: 'f'.repeat(64),
      notAfter: '2030-01-01T00:00:00.000Z',
      issuedAt: T1,
      revokedAt: null,
    };
    await store().nodeCertificates.insert(cert);
    const reads = vi.spyOn(store().nodeCertificates, 'get');
    expect(await store().authCertificate('ab01')).toEqual(cert);
    expect(await store().authCertificate('ab01')).toEqual(cert);
    expect(reads).toHaveBeenCalledTimes(1);
    await store().transaction((repos) => repos.nodeCertificates.revokeNode('node-a', T1));
    expect((await store().authCertificate('ab01'))?.revokedAt).toBe(T1);
  });

  it('with a TTL of 0 reads every time', async () => {
    await store().tokens.insert(token('tok-1'));
    const uncached = await openStore(url(), { tokenCacheMs: 0 });
    try {
      const reads = vi.spyOn(uncached.tokens, 'findByHash');
      await uncached.authToken(token('tok-1').hash);
      await uncached.authToken(token('tok-1').hash);
      expect(reads).toHaveBeenCalledTimes(2);
    } finally {
      await uncached.close();
    }
  });
});

it('does not keep a lookup that a revocation overtook', async () => {
  const cache = new CredentialCache<TokenRecord>(60_000);
  const live = token('tok-1');
  let release: (t: TokenRecord) => void = () => undefined;
  const slow = cache.find(live.hash, () => new Promise<TokenRecord>((r) => (release = r)));
  cache.revoked();
  release(live);
  expect(await slow).toEqual(live);
  const load = vi.fn(async () => ({ ...live, revokedAt: T1 }));
  expect((await cache.find(live.hash, load))?.revokedAt).toBe(T1);
  expect(load).toHaveBeenCalledTimes(1);
});

it('shares one read among concurrent misses, but not across a revocation', async () => {
  const cache = new CredentialCache<TokenRecord>(60_000);
  const live = token('tok-1');
  let release: (t: TokenRecord) => void = () => undefined;
  const load = vi.fn(() => new Promise<TokenRecord>((r) => (release = r)));
  const first = cache.find(live.hash, load);
  const second = cache.find(live.hash, load);
  expect(load).toHaveBeenCalledTimes(1);
  cache.revoked();
  const revoked = { ...live, revokedAt: T1 };
  const after = cache.find(live.hash, async () => revoked);
  release(live);
  expect(await first).toEqual(live);
  expect(await second).toEqual(live);
  expect(await after).toEqual(revoked);
  expect(await cache.find(live.hash, async () => live)).toEqual(revoked);
});

it('expires an entry after its TTL', async () => {
  let now = 0;
  const cache = new CredentialCache<TokenRecord>(1_000, () => now);
  const load = vi.fn(async () => token('tok-1'));
  await cache.find('h', load);
  now = 999;
  await cache.find('h', load);
  expect(load).toHaveBeenCalledTimes(1);
  now = 1_000;
  await cache.find('h', load);
  expect(load).toHaveBeenCalledTimes(2);
});
